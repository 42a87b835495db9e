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

// A long name of words (a policy's, here) was cut like a secret: two
// policies named exoscale-ci-runner-production were reported as a
// "duplicate policy name "exoscale-ci-runner-produ…"", which no longer
// said which. Such names are shown whole (secret.WordsName); a secret
// pasted as a name, which mixes cases, is still cut.
func TestALongNameOfWordsIsNotCut(t *testing.T) {
	const (
		name = "exoscale-ci-runner-production"
		tok  = "Zx9q0Zc3n1V8xT2mYk9Lr4Pw7Hb6Jd5Ns0GFa1UabcD"
	)
	body := `exoscale:
  endpoint: http://127.0.0.1:8080/v2
  api_key: EXO0123456789abcdef01234567
  api_secret: s
policies:
  - name: NAME
    match: {name: "ci-*"}
    sinks: [{type: file, path: "/tmp/a/{{.Name}}.json"}]
  - name: NAME
    match: {name: "cd-*"}
    sinks: [{type: file, path: "/tmp/b/{{.Name}}.json"}]
`
	_, _, err := Validate(writePolicy(t, strings.ReplaceAll(body, "NAME", name)), ValidateOptions{Getenv: env(nil)})
	if err == nil || !strings.Contains(err.Error(), `duplicate policy name "`+name+`"`) {
		t.Errorf("the duplicate name is not shown whole: %v", err)
	}
	_, _, err = Validate(writePolicy(t, strings.ReplaceAll(body, "NAME", tok)), ValidateOptions{Getenv: env(nil)})
	if err == nil || strings.Contains(err.Error(), tok[20:]) || !strings.Contains(err.Error(), tok[:24]+"…") {
		t.Errorf("a secret pasted as a name is not cut: %v", err)
	}
}
