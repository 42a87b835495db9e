package vault

import (
	"strings"
	"testing"
	"text/template"
)

// The credential_vault and a sink can name the same Vault in different
// spellings of one URL: a default port written or not, a host in
// capitals, a trailing slash. The sink must still know the credential's
// secret as rotatord's own, so that no key name renders onto it.
func TestProtectedCredentialMatchesAnotherSpellingOfTheAddress(t *testing.T) {
	for _, tc := range []struct{ sink, credential string }{
		{"https://vault.example.invalid:443", "https://vault.example.invalid"},
		{"https://vault.example.invalid", "https://Vault.Example.Invalid:443/"},
		{"http://127.0.0.1:80", "http://127.0.0.1"},
		{"https://vault.example.invalid:8200/", "HTTPS://VAULT.example.invalid:8200"},
	} {
		e := newEnv(t, nil)
		s := e.sink("hvs.protected-test", func(o *Options) {
			o.Address = tc.sink
			o.Path = template.Must(template.New("path").Parse("exoscale/{{.Name}}"))
			o.TakeOver = true
			o.Policy = "ci"
			o.Protected = []Protected{{Address: tc.credential, Path: "exoscale/rotatord", What: "the credential_vault of account default"}}
		})
		if _, err := s.writablePath("rotatord"); err == nil || !strings.Contains(err.Error(), "rotatord's own credential") {
			t.Errorf("sink at %s, credential_vault at %s: the credential's path is writable (%v)", tc.sink, tc.credential, err)
		}
	}
}
