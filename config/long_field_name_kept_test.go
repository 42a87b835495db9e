package config

import (
	"strings"
	"testing"
)

// b78291f cut every long word of a problem that the file also holds, and
// so the file's own field names: a problem on service_account_token_file
// named policies[0].sinks[0].auth.service_account_token_fi… and a
// misspelt one suggested "service_account_token_fi…" (seen with the real
// binary). A field name of the policy file is not a secret.
func TestALongFieldNameIsNotCut(t *testing.T) {
	body := `exoscale:
  endpoint: http://127.0.0.1:8080/v2
  api_key: EXO0123456789abcdef01234567
  api_secret: s
policies:
  - name: ci
    match: {name: "ci-*"}
    sinks:
      - type: vault
        address: https://vault:8200
        mount: kv
        path: "ci/{{.Name}}"
        auth: {method: token, token_file: ./secret, service_account_token_file: /nonexistent/x}
      - type: vault
        address: https://vault:8200
        mount: kv
        path: "ci2/{{.Name}}"
        auth: {method: kubernetes, role: r, service_account_token_fil: /x}
`
	_, _, err := Validate(writePolicy(t, body), ValidateOptions{Getenv: env(nil)})
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{
		":13: policies[0].sinks[0].auth.service_account_token_file: ",
		`(did you mean "service_account_token_file"?)`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not hold %q: %v", want, err)
		}
	}
}
