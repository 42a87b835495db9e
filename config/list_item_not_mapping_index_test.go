package config

import (
	"strings"
	"testing"
)

// TestListItemNotAMappingKeepsTheOthersIndex: yaml.v3 drops an item that
// is not a mapping (a plain string, a list, an alias of one) from the
// list, so every later item was checked under the index before its own:
// the next policy's problems were reported on the dropped item's line,
// or left out as if they followed from it, and the one after that was
// named policies[2] on policies[2]'s line for what is policies[3]. Each
// item keeps its index and line; the dropped one is its own one problem.
func TestListItemNotAMappingKeepsTheOthersIndex(t *testing.T) {
	const head = "exoscale: {api_key: EXO0123456789abcdef01234567, api_secret: supersecretvalue0123456789abcdefghijkl}\n"
	for _, c := range []struct {
		name, doc string
		want      []string
	}{
		{"policy", head + `policies:
  - name: b
    match: {name: b}
    sinks: [{type: file, path: /tmp/x/b}]
  - just-a-string
  - name: a
    match: {name: a}
    max_age: 1x
    sinks: [{type: file, path: /tmp/x/a}]
  - name: c
    match: {name: c}
    adopt: maybe
    sinks: [{type: file, path: /tmp/x/c}]
`, []string{
			`f.yml:6: policies[1]: want a mapping, got "just-a-string"`,
			`f.yml:9: policies[2].max_age: invalid duration "1x"`,
			`f.yml:13: policies[3].adopt: unknown value "maybe"`,
		}},
		{"sink", head + `policies:
  - name: b
    match: {name: b}
    sinks:
      - just-a-string
      - type: file
        path: /tmp/x/b
        format: yml
`, []string{
			`f.yml:6: policies[0].sinks[0]: want a mapping, got "just-a-string"`,
			`f.yml:9: policies[0].sinks[1].format: unknown format "yml"`,
		}},
		{"null and flow list items", head + `policies:
  - [a, b]
  -
  - name: a
    match: {name: a}
    adopt: maybe
    sinks:
      - ~
      - {type: file, path: /tmp/x/a}
`, []string{
			`f.yml:3: policies[0]: want a mapping, got a list`,
			`f.yml:4: policies[1]: empty: want a mapping`,
			`f.yml:7: policies[2].adopt: unknown value "maybe"`,
			`f.yml:9: policies[2].sinks[0]: empty: want a mapping`,
		}},
		{"account", `accounts:
  - just-a-string
  - name: b
    api_key: EXO0123456789abcdef01234567
    api_secret: supersecretvalue0123456789abcdefghijkl
    zone: mars-1
policies:
  - name: b
    account: b
    match: {name: b}
    sinks: [{type: file, path: /tmp/x/b}]
`, []string{
			`f.yml:2: accounts[0]: want a mapping, got "just-a-string"`,
			`f.yml:6: accounts[1].zone: `,
		}},
	} {
		_, err := Parse([]byte(c.doc), "f.yml", "/tmp")
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		got := strings.Split(err.Error(), "\n")
		if len(got) != len(c.want) {
			t.Errorf("%s: got %d problems, want %d:\n%s", c.name, len(got), len(c.want), err)
			continue
		}
		for i, w := range c.want {
			if !strings.HasPrefix(got[i], w) {
				t.Errorf("%s: problem %d is %q, want %q...", c.name, i, got[i], w)
			}
		}
	}
}
