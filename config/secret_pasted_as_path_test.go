package config

import (
	"strings"
	"testing"
)

// An HMAC key pasted where the webhook's key_file belongs is quoted in
// full by validate ("stat <dir>/<key>: no such file or directory"), while
// the same mistake in api_secret_file or token_file is not quoted.
func TestValidateDoesNotQuoteAWebhookKeyPastedAsKeyFile(t *testing.T) {
	const key = "gX2zrl7Iom6dDnSx8WtC-jwmx7PJnKfZTnwBS7eFWRk"
	doc := hostDoc("state", "out/{{.Name}}.json") + `    hooks:
      - event: before_delete
        webhook: {url: "https://hooks.example.com/check", key_file: ` + key + `}
`
	got := hookProblems(t, doc, true)
	if !strings.Contains(got, "hooks[0].webhook.key_file") {
		t.Fatalf("want a problem on the key_file: %q", got)
	}
	if strings.Contains(got, key) {
		t.Errorf("validate quotes the webhook key: %v", got)
	}
}

// A key made by `openssl rand -base64 32` has '/' in it most of the time:
// pasted as api_secret_file, the part before the last '/' is a directory
// to ShownPath and the part after it too short to look like a secret, so
// the whole key is quoted.
func TestValidateDoesNotQuoteAStandardBase64SecretPastedAsFilePath(t *testing.T) {
	const sec = "q0Zc3n1V8xT2mYk9Lr4Pw7Hb6Jd5Ns0G/Fa1Ue3Io8="
	file := writePolicy(t, `exoscale:
  endpoint: http://127.0.0.1:8080/v2
  api_key: EXO0123456789abcdef01234567
  api_secret_file: "`+sec+`"
policies:
  - name: ci
    match: {name: "ci-*"}
    sinks:
      - {type: file, path: "out/{{.Name}}.json"}
`)
	_, _, err := Validate(file, ValidateOptions{Host: true, Getenv: env(nil)})
	if err == nil {
		t.Fatal("want an error")
	}
	if strings.Contains(err.Error(), sec[:20]) {
		t.Errorf("validate quotes the secret: %v", err)
	}
}
