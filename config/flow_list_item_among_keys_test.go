package config

import (
	"strings"
	"testing"
)

// TestFlowListItemAmongKeysNamesItsIndex: an item of a flow list that is
// not a mapping, on a line that also holds keys (a flow mapping beside
// it), is named by its index when its value, kind and Go type single it
// out. It was named after the line's one key whose value is the same
// word, whatever that key's type ("policies: [x, {name: a, match: {name:
// x}}]" said policies[1].match.name: want a mapping, a field that is
// right), or named nothing.
func TestFlowListItemAmongKeysNamesItsIndex(t *testing.T) {
	for _, c := range []struct {
		doc      string
		want     []string
		notWants []string
	}{
		{"policies: [x, {name: a, match: {name: x}}]\n",
			[]string{`f.yml:1: policies[0]: want a mapping, got "x"`},
			[]string{`match.name: want a mapping`}},
		{"policies: [\n  {name: a, match: {name: \"x-*\"}, sinks: [5]}, 6]\n",
			[]string{
				`f.yml:2: policies[0].sinks[0]: want a mapping, got "5"`,
				`f.yml:2: policies[1]: want a mapping, got "6"`,
			}, nil},
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
		for _, w := range c.notWants {
			if strings.Contains(err.Error(), w) {
				t.Errorf("%q: want no %s, got:\n%v", c.doc, w, err)
			}
		}
	}
}
