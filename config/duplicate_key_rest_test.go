package config

import (
	"strings"
	"testing"
)

// TestDuplicateKeyLeavesTheRestChecked: yaml.v3 does not decode a mapping
// that holds a key twice, so a policy file with `listen:` written twice
// was reported as having no API key and no policy ("exoscale: no API key:
// set api_key ...", "policies: at least one policy is required"), which
// it has, and the real problems elsewhere in the file went unreported. The
// duplicate is one problem; the rest of the file is checked as if the
// later occurrence were not there.
func TestDuplicateKeyLeavesTheRestChecked(t *testing.T) {
	for _, c := range []struct {
		name, doc string
		want      []string // each problem, in order
	}{
		{"top level", `exoscale:
  api_key: EXO0123456789abcdef01234567
  api_secret: supersecretvalue0123456789abcdefghijkl
listen: 127.0.0.1:9108
listen: 127.0.0.1:9109
policies:
  - name: ci
    match:
      name: ci-*
    max_age: 1x
    sinks:
      - type: file
        path: /tmp/{{.Name}}.json
`, []string{
			`f.yml:5: listen: mapping key "listen" already defined at line 4`,
			`f.yml:10: policies[0].max_age: invalid duration "1x"`,
		}},
		{"in a policy, a block after it", `exoscale:
  api_key: EXO0123456789abcdef01234567
  api_secret: supersecretvalue0123456789abcdefghijkl
policies:
  - name: ci
    match:
      name: ci-*
    sinks:
      - type: file
        path: /tmp/{{.Name}}.json
    sinks:
      - type: file
        path: /tmp/b/{{.Name}}.json
    max_age: 1x
  - name: cd
    match: {name: cd-*}
    adopt: maybe
    sinks: [{type: file, path: "/tmp/c/{{.Name}}.json"}]
`, []string{
			`f.yml:11: policies[0].sinks: mapping key "sinks" already defined at line 8`,
			`f.yml:14: policies[0].max_age: invalid duration "1x"`,
			`f.yml:17: policies[1].adopt: unknown value "maybe"`,
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
