package config

import (
	"strings"
	"testing"
)

// TestDuplicateKeyLeavesTheRestCheckedInAnySpelling: a key written twice
// is one problem and the rest of the file is still checked, whatever the
// file's spelling. Three spellings fell back to yaml.v3, which drops the
// whole mapping: the policy's fields were then validated as zero values
// (`schedule ""`, `max_age 0s`, `mode 0000`, problems nobody wrote), or
// the next policy was checked under the dropped one's index and its real
// problem went unreported: lines that end in a lone CR, a later
// occurrence that defines an anchor used further on, and a flow mapping.
func TestDuplicateKeyLeavesTheRestCheckedInAnySpelling(t *testing.T) {
	const head = "exoscale:\n  api_key: EXO0123456789abcdef01234567\n  api_secret: supersecretvalue0123456789abcdefghijkl\n"
	block := head + `policies:
  - name: ci
    match:
      name: ci-*
    sinks:
      - type: file
        path: /tmp/{{.Name}}.json
    name: cx
  - name: cd
    match: {name: cd-*}
    adopt: maybe
    sinks: [{type: file, path: "/tmp/c/{{.Name}}.json"}]
`
	for _, c := range []struct {
		name, doc string
		want      []string
	}{
		{"lone CR line ends", strings.ReplaceAll(block, "\n", "\r"), []string{
			`f.yml:11: policies[0].name: mapping key "name" already defined at line 5`,
			`f.yml:14: policies[1].adopt: unknown value "maybe"`,
		}},
		{"later occurrence defines an anchor", head + `policies:
  - name: ci
    match: {name: ci-*}
    schedule: "@hourly"
    sinks:
      - type: file
        path: /tmp/a/{{.Name}}.json
    schedule: &daily "@daily"
  - name: cd
    match: {name: cd-*}
    adopt: maybe
    schedule: *daily
    sinks: [{type: file, path: "/tmp/c/{{.Name}}.json"}]
`, []string{
			`f.yml:11: policies[0].schedule: mapping key "schedule" already defined at line 7`,
			`f.yml:14: policies[1].adopt: unknown value "maybe"`,
		}},
		{"flow mapping", head + `policies:
  - {name: ci, name: cx, match: {name: ci-*}, sinks: [{type: file, path: "/tmp/a/{{.Name}}.json"}]}
  - name: cd
    match: {name: cd-*, name: ce}
    adopt: maybe
    sinks: [{type: file, path: "/tmp/c/{{.Name}}.json"}]
`, []string{
			`f.yml:5: mapping key "name" already defined at line 5`,
			`f.yml:7: policies[1].match.name: mapping key "name" already defined at line 7`,
			`f.yml:8: policies[1].adopt: unknown value "maybe"`,
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
