package config

import (
	"strings"
	"testing"
)

// A value given an explicit tag it cannot be read as (`api_secret: !!int
// SECRET`, one edit in front of a secret, no need to read it) failed the
// load with yaml.v3's own message, which quotes the whole scalar:
// "cannot decode !!str `SECRET` as a !!int", in validate's output and in
// the log of a rejected reload. It is cut as any value of the wrong kind.
func TestATaggedValueIsNotQuotedWhole(t *testing.T) {
	const sec = "Zq9XsecretSECRETvalue0123456789abcdefABCDEF"
	for _, tag := range []string{"!!int", "!!float", "!!bool", "!!timestamp"} {
		file := writePolicy(t, `exoscale:
  endpoint: http://127.0.0.1:8080/v2
  api_key: EXO0123456789abcdef01234567
  api_secret: `+tag+` `+sec+`
policies:
  - name: ci
    match: {name: "ci-*"}
    sinks:
      - {type: file, path: "out/{{.Name}}.json"}
`)
		_, _, err := Validate(file, ValidateOptions{Getenv: env(nil)})
		if err == nil {
			t.Fatalf("%s: want an error", tag)
		}
		if strings.Contains(err.Error(), sec[maxEcho:]) {
			t.Errorf("%s: the error quotes the secret whole: %v", tag, err)
		}
		if !strings.Contains(err.Error(), ":4:") {
			t.Errorf("%s: the error does not name line 4: %v", tag, err)
		}
	}
}

// A secret pasted into a field that takes one of a few words (the line
// meant for api_secret written as `zone:`) was quoted whole by validate
// and by the log of a rejected reload ("unknown zone \"SECRET\""), where
// every value of the wrong kind is cut (maxEcho).
func TestAnUnknownWordIsNotQuotedWhole(t *testing.T) {
	const sec = "Zq9XsecretSECRETvalue0123456789abcdefABCDEF"
	for _, c := range []struct{ exoscale, policy, sink string }{
		{exoscale: "  zone: " + sec + "\n"},
		{policy: "    adopt: " + sec + "\n"},
		{sink: ", type: file, format: " + sec},
		{sink: ", type: " + sec},
	} {
		if c.sink == "" {
			c.sink = ", type: file"
		}
		file := writePolicy(t, `exoscale:
  endpoint: http://127.0.0.1:8080/v2
  api_key: EXO0123456789abcdef01234567
  api_secret: s
`+c.exoscale+`policies:
  - name: ci
    match: {name: "ci-*"}
`+c.policy+`    sinks:
      - {path: "out/{{.Name}}.json"`+c.sink+`}
`)
		_, _, err := Validate(file, ValidateOptions{Getenv: env(nil)})
		if err == nil {
			t.Fatalf("%+v: want an error", c)
		}
		if strings.Contains(err.Error(), sec[maxEcho:]) {
			t.Errorf("%+v: the error quotes the secret whole: %v", c, err)
		}
	}
}
