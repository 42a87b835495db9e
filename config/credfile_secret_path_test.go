package config

import (
	"strings"
	"testing"
)

// TestValidateDoesNotQuoteASecretPastedAsFilePath: `rotatord validate`
// prints "exoscale.api_secret_file: open <dir>/<secret>: no such file or
// directory" for a secret written where its file's path belongs, while
// it takes care never to quote a misplaced value of api_key.
func TestValidateDoesNotQuoteASecretPastedAsFilePath(t *testing.T) {
	const sec = "gX2zrl7Iom6dDnSx8WtC-jwmx7PJnKfZTnwBS7eFWRk"
	file := writePolicy(t, `exoscale:
  endpoint: http://127.0.0.1:8080/v2
  api_key: EXO0123456789abcdef01234567
  api_secret_file: `+sec+`
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
	if strings.Contains(err.Error(), sec) {
		t.Errorf("validate quotes the secret: %v", err)
	}
}

// A Vault token pasted where its file belongs is not quoted either.
func TestValidateDoesNotQuoteAVaultTokenPastedAsTokenFile(t *testing.T) {
	const tok = "hvs.CAESIJlk3j4lk5j6lk7j8lk9j0lk1j2lk3j4lk5j6lk7j8lk9j"
	file := writePolicy(t, `exoscale:
  endpoint: http://127.0.0.1:8080/v2
  api_key: EXO0123456789abcdef01234567
  api_secret: x
policies:
  - name: ci
    match: {name: "ci-*"}
    sinks:
      - type: vault
        address: http://127.0.0.1:8200
        mount: secret
        path: "x/{{.Name}}"
        auth: {method: token, token_file: `+tok+`}
`)
	_, _, err := Validate(file, ValidateOptions{Host: true, Getenv: env(nil)})
	if err == nil {
		t.Fatal("want an error")
	}
	if strings.Contains(err.Error(), tok) || strings.Contains(err.Error(), tok[4:]) {
		t.Errorf("validate quotes the token: %v", err)
	}
	if !strings.Contains(err.Error(), "token_file") {
		t.Errorf("the error should name the field: %v", err)
	}
}
