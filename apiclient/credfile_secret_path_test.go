package apiclient

import (
	"strings"
	"testing"
)

// TestSecretPastedAsFilePathNotQuoted: the api_key check never quotes its
// value ("a secret put where the key belongs ... would land in logs"), but
// a secret put where its file's path belongs (api_secret_file: <secret>,
// the same mistake one line down) is quoted in full by the error that
// `rotatord once` and `run` print and log:
// "exoscale credentials: api_secret_file: open /etc/rotatord/<secret>: no
// such file or directory". Issue #3: no secret in logs or errors.
func TestSecretPastedAsFilePathNotQuoted(t *testing.T) {
	const sec = "gX2zrl7Iom6dDnSx8WtC-jwmx7PJnKfZTnwBS7eFWRk"
	for _, src := range []CredentialSource{
		{Key: "EXO0123456789abcdef01234567", SecretFile: sec},
		{KeyFile: sec, Secret: "x"},
	} {
		_, err := src.Resolve(func(string) string { return "" })
		if err == nil {
			t.Fatalf("%+v: want an error", src)
		}
		if strings.Contains(err.Error(), sec) {
			t.Errorf("error quotes the secret: %v", err)
		}
	}
}
