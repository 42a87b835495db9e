package config

import (
	"strings"
	"testing"
)

// TestTabAfterADashSaysSo: a tab after the dash of a list item ("-\tname:
// ci", an editor that does not expand tabs) is refused by the parser as a
// tab in the indentation is, with the same bare "found character that
// cannot start any token", and gets the same word on the tab.
func TestTabAfterADashSaysSo(t *testing.T) {
	for _, doc := range []string{
		"policies:\n  -\tname: ci\n",
		"policies:\n  - \tname: ci\n",
	} {
		_, err := Parse([]byte(doc), "f.yml", "/tmp")
		if err == nil || !strings.Contains(err.Error(), "f.yml:2:") || !strings.Contains(err.Error(), "tab") || !strings.Contains(err.Error(), "spaces") {
			t.Errorf("%q: want f.yml:2: and a word on the tab, got %v", doc, err)
		}
	}
}
