package config

import (
	"strings"
	"testing"
)

// Two spellings of one Vault server (a default port written or not, the
// host's case, a trailing slash) name one secret: two accounts sharing it
// would each rotate the other's credential away, and a sink writing it
// would replace the credential rotatord signs with.
func TestOneVaultCredentialUnderAnotherSpellingOfItsAddress(t *testing.T) {
	vault := func(addr, mount string) string {
		m := ""
		if mount != "" {
			m = "\n    mount: " + mount
		}
		return "\n    address: " + addr + m + "\n    path: infra/rotatord\n    auth: {method: kubernetes, role: rotatord}"
	}
	for _, tc := range []struct{ a, b, mountA, mountB string }{
		{"https://vault.example", "https://vault.example:443", "", ""},
		{"https://vault.example:8200", "https://VAULT.example:8200/", "", ""},
		{"https://vault.example:8200", "https://vault.example:8200", "", "secret"},
	} {
		_, err := Parse([]byte(`exoscale:
  credential_from: vault
  credential_vault:`+vault(tc.a, tc.mountA)+`
  own_key: {}
accounts:
  - name: staging
    credential_from: vault
    credential_vault:`+strings.ReplaceAll(vault(tc.b, tc.mountB), "\n    ", "\n      ")+`
    own_key: {}
`+credentialsApartPolicies), "rotatord.yml", "/etc/rotatord")
		if err == nil || !strings.Contains(err.Error(), "the same Vault secret") {
			t.Errorf("accounts with credential_vault at %s (mount %q) and %s (mount %q), one secret, are accepted: %v", tc.a, tc.mountA, tc.b, tc.mountB, err)
		}
	}
}
