package config

import (
	"strings"
	"testing"
)

// TestListItemNotAMappingLeavesTheOthersDefaults: a policy (or a sink)
// written as a plain string is one problem. yaml.v3 drops such an item
// from the list, so the defaults of every other item of the list were not
// applied, and validate reported problems nobody wrote: an empty
// schedule, max_age 0s, adopt "", a Vault sink's mount required.
func TestListItemNotAMappingLeavesTheOthersDefaults(t *testing.T) {
	for _, c := range []struct{ name, doc string }{
		{"policy", `exoscale: {api_key: EXO0123456789abcdef01234567, api_secret: s3cr3t}
policies:
  - name: ci
    match: {name: ci-*}
    sinks:
      - type: vault
        address: https://vault.example:8200
        path: x/{{.Name}}
  - just-a-string
`},
		{"sink", `exoscale: {api_key: EXO0123456789abcdef01234567, api_secret: s3cr3t}
policies:
  - name: ci
    match: {name: ci-*}
    sinks:
      - type: vault
        address: https://vault.example:8200
        path: x/{{.Name}}
      - just-a-string
`},
	} {
		_, err := Parse([]byte(c.doc), "f.yml", "/tmp")
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		lines := strings.Split(err.Error(), "\n")
		if len(lines) != 1 || !strings.Contains(lines[0], "f.yml:9:") || !strings.Contains(lines[0], `want a mapping, got "just-a-string"`) {
			t.Errorf("%s: want one problem, on line 9, got:\n%s", c.name, err)
		}
	}
}
