package config

import (
	"strings"
	"testing"
)

// TestTabIndentationSaysSo: a line indented with a tab (an editor that
// does not expand tabs) got the parser's bare "found character that
// cannot start any token", which does not say that the character is the
// tab nor what to do. The message says that YAML indents with spaces.
func TestTabIndentationSaysSo(t *testing.T) {
	for _, c := range []struct {
		doc, line string
	}{
		{"policies:\n  - name: ci\n    match: {name: ci-*}\n\tmax_age: 1h\n", "f.yml:4:"},
		{"policies:\n  - name: ci\n    match: {name: ci-*}\n  \t  max_age: 1h\n", "f.yml:4:"},
		{"exoscale: {}\npolicies:\n\t- name: ci\n", "f.yml:3:"},
		{"policies:\n  - name: ci\n\tmax_age: 1h\n", "f.yml:3:"},
	} {
		_, err := Parse([]byte(c.doc), "f.yml", "/tmp")
		if err == nil || !strings.Contains(err.Error(), c.line) || !strings.Contains(err.Error(), "tab") || !strings.Contains(err.Error(), "spaces") {
			t.Errorf("%q: want %s and a word on the tab, got %v", c.doc, c.line, err)
		}
	}
}
