package config

import (
	"strings"
	"testing"
)

// TestFlowListLongItemNamesItsIndex: an item of a flow list on its key's
// line is named by its index (TestFlowListItemOnTheKeysLineNamesItsIndex)
// only when it is at most 10 bytes long: yaml.v3 quotes a longer value
// cut to 7 and "...", which matched no item, so "policies: [ci-runner-x]"
// was named "policies" where "policies: [ci]" is policies[0]. A secret
// pasted there is named the same way, and still not quoted whole.
func TestFlowListLongItemNamesItsIndex(t *testing.T) {
	const secret = "Ab3dEf5hIj7lMn9pQr1tUv3xYz5bCd7fGh9jKl1nOp3"
	for _, c := range []struct {
		doc  string
		want []string
	}{
		{"policies: [ci-runner-x]\n", []string{`f.yml:1: policies[0]: want a mapping, got "ci-runner-x"`}},
		{"policies: [" + secret + "]\n", []string{`f.yml:1: policies[0]: want a mapping`}},
		{"policies:\n  - name: a\n    match: {name: \"x-*\"}\n    sinks: [\"/tmp/a/long/path\", 5]\n", []string{
			`f.yml:4: policies[0].sinks[0]: want a mapping, got "/tmp/a/long/path"`,
			`f.yml:4: policies[0].sinks[1]: want a mapping, got "5"`,
		}},
	} {
		_, err := Parse([]byte(c.doc), "f.yml", "/tmp")
		if err == nil {
			t.Errorf("%q: no error", c.doc)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%q: the secret is quoted whole:\n%v", c.doc, err)
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: want %s, got:\n%v", c.doc, w, err)
			}
		}
	}
}
