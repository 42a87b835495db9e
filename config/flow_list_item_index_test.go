package config

import (
	"strings"
	"testing"
)

// TestFlowListItemOnTheKeysLineNamesItsIndex: an item of a flow list
// that is not a mapping, written on its key's line (`policies: [1]`,
// `sinks: [5, "str"]`), was named by the key alone ("f.yml:1: policies:
// want a mapping, got "1""), though the same item in a block list is
// named with its index (policies[0]) and the key holds a list, as it
// should. The item is named; two items alike on one line leave the key.
func TestFlowListItemOnTheKeysLineNamesItsIndex(t *testing.T) {
	for _, c := range []struct {
		doc  string
		want []string
	}{
		{"policies: [1]\n", []string{`f.yml:1: policies[0]: want a mapping, got "1"`}},
		{"policies: [1, 2]\n", []string{
			`f.yml:1: policies[0]: want a mapping, got "1"`,
			`f.yml:1: policies[1]: want a mapping, got "2"`,
		}},
		{"policies:\n  - name: a\n    match: {name: \"x-*\"}\n    sinks: [5, \"str\"]\n", []string{
			`f.yml:4: policies[0].sinks[0]: want a mapping, got "5"`,
			`f.yml:4: policies[0].sinks[1]: want a mapping, got "str"`,
		}},
	} {
		_, err := Parse([]byte(c.doc), "f.yml", "/tmp")
		if err == nil {
			t.Errorf("%q: no error", c.doc)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: want %s, got:\n%v", c.doc, w, err)
			}
		}
	}
}
