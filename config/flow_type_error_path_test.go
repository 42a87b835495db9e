package config

import (
	"strings"
	"testing"
)

// TestFlowStyleWrongKindNamesItsPath: a mapping or a list where the
// other belongs, on a line with other keys (flow style), was reported
// without its field ("f.yml:1: want a list, got a mapping").
func TestFlowStyleWrongKindNamesItsPath(t *testing.T) {
	for _, c := range []struct{ doc, want string }{
		{"policies: {name: ci}\n", "f.yml:1: policies: want a list, got a mapping"},
		{"policies: [{name: ci, match: {name: ci-*}, sinks: {type: file}}]\n", "f.yml:1: policies[0].sinks: want a list, got a mapping"},
	} {
		_, err := Parse([]byte(c.doc), "f.yml", "/tmp")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("want %s, got:\n%v", c.want, err)
		}
	}
}
