package config

import (
	"strings"
	"testing"
)

// TestFlowStyleUnknownFieldNamesItsPath: a misspelt field in a mapping
// written in flow style ({...}) was reported without the path of the
// field ("f.yml:4: unknown field \"exlude\""), unlike the same mistake
// in block style ("policies[0].match.exlude: ...").
func TestFlowStyleUnknownFieldNamesItsPath(t *testing.T) {
	doc := "exoscale: {api_key: EXO0123456789abcdef01234567, api_secret: s3cr3t}\npolicies:\n  - name: ci\n    match: {name: ci-*, exlude: [x]}\n    sinks: [{type: file, path: '/tmp/{{.Name}}', mdoe: '0600'}]\n"
	_, err := Parse([]byte(doc), "f.yml", "/tmp")
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		`f.yml:4: policies[0].match.exlude: unknown field "exlude"`,
		`f.yml:5: policies[0].sinks[0].mdoe: unknown field "mdoe"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("want %s..., got:\n%s", want, err)
		}
	}
}
