package config

import (
	"strings"
	"testing"
)

// TestTabInFlowContextIsNotBlamed: inside a flow list or mapping written
// over several lines, a line may start with a tab (YAML allows tabs as
// separation there: "policies: [\n\t1]" parses). A syntax error on such
// a line is not the tab's: the hint must not tell to replace the tab
// (which changes nothing) and must leave room for the hint on the real
// cause, a value that starts with @ or `.
func TestTabInFlowContextIsNotBlamed(t *testing.T) {
	for _, doc := range []string{
		"policies: [\n\t@x]\n",
		"policies: [\n\t`x`]\n",
		"policies:\n  - name: a\n    match: {name: \"x-*\",\n\tfoo: @bar}\n",
	} {
		_, err := Parse([]byte(doc), "f.yml", "/tmp")
		if err == nil {
			t.Errorf("%q: no error", doc)
			continue
		}
		if msg := err.Error(); strings.Contains(msg, "tab") || !strings.Contains(msg, "is reserved in YAML") {
			t.Errorf("%q: want the hint on @ or ` and none on the tab, got:\n%v", doc, msg)
		}
	}
}
