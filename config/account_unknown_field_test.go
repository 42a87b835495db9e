package config

import (
	"strings"
	"testing"
)

// TestAccountUnknownFieldSuggestsExoscaleFields: an account takes every
// exoscale field (they are inlined), but a misspelt one was answered
// `unknown field "api_keyfile" (known here: name)`, as if an account had
// only a name.
func TestAccountUnknownFieldSuggestsExoscaleFields(t *testing.T) {
	doc := "accounts:\n  - name: b\n    api_keyfile: /x\npolicies:\n  - name: ci\n    account: b\n    match: {name: ci-*}\n    sinks: [{type: file, path: '/tmp/{{.Name}}'}]\n"
	_, err := Parse([]byte(doc), "f.yml", "/tmp")
	if err == nil || !strings.Contains(err.Error(), `f.yml:3: accounts[0].api_keyfile: unknown field "api_keyfile" (did you mean "api_key_file"?)`) {
		t.Errorf("want the nearest exoscale field suggested, got %v", err)
	}
	if got := unknownField("zzzzzzzzzz", yamlFields("config.Account")); !strings.Contains(got, "credential_file") {
		t.Errorf("the fields known in an account leave out the exoscale ones: %s", got)
	}
}
