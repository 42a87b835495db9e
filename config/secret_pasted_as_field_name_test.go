package config

import (
	"strings"
	"testing"
)

// A secret pasted without its field name (`{endpoint: ..., api_key: EXO...,
// <secret>}` in a flow mapping, or `<secret>: x` on a line of its own) is
// decoded as a field of that name, and the unknown-field error quoted it
// whole, twice (path and message): to validate's output and, at a reload,
// to the log. It is cut as a value of the wrong type is.
func TestUnknownFieldErrorDoesNotQuoteASecretPastedAsAFieldName(t *testing.T) {
	const sec = "5H-A_ov-Kr002R--GPORpKkxrnq1wlcF6jWEAME2e_g"
	for name, exo := range map[string]string{
		"flow":  "exoscale: {endpoint: http://127.0.0.1:8080/v2, api_key: EXO0123456789abcdef01234567, " + sec + "}\n",
		"block": "exoscale:\n  endpoint: http://127.0.0.1:8080/v2\n  api_key: EXO0123456789abcdef01234567\n  " + sec + ": x\n",
	} {
		t.Run(name, func(t *testing.T) {
			doc := exo + `policies:
  - name: ci
    match: {name: "ci-*"}
    sinks:
      - {type: file, path: "/etc/ci/{{.Name}}.json"}
`
			_, err := Parse([]byte(doc), "policy.yml", "/")
			if err == nil {
				t.Fatal("want an error")
			}
			got := err.Error()
			if !strings.Contains(got, "unknown field") {
				t.Fatalf("want an unknown-field error, got %v", err)
			}
			// Less than half of it: 25 characters in a row are too many.
			for i := 0; i+25 <= len(sec); i++ {
				if strings.Contains(got, sec[i:i+25]) {
					t.Fatalf("the error quotes %q of the secret: %v", sec[i:i+25], err)
				}
			}
		})
	}
}
