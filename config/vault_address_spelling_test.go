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

// An address or namespace left out takes VAULT_ADDR or VAULT_NAMESPACE,
// as the credential's Vault client does: the account that leaves it out
// and the one that writes the same value name one secret.
func TestOneVaultCredentialWithTheAddressFromTheEnvironment(t *testing.T) {
	t.Setenv("VAULT_ADDR", "https://vault.example:8200")
	t.Setenv("VAULT_NAMESPACE", "team")
	vault := func(fields string) string {
		return "\n    " + fields + "\n    path: infra/rotatord\n    auth: {method: kubernetes, role: rotatord}"
	}
	for _, tc := range []struct{ a, b string }{
		{"mount: secret", "address: https://vault.example:8200/"},
		{"mount: secret", "namespace: /team/"},
		{"address: https://vault.example:8200", "namespace: team"},
	} {
		_, err := Parse([]byte(`exoscale:
  credential_from: vault
  credential_vault:`+vault(tc.a)+`
  own_key: {}
accounts:
  - name: staging
    credential_from: vault
    credential_vault:`+strings.ReplaceAll(vault(tc.b), "\n    ", "\n      ")+`
    own_key: {}
`+credentialsApartPolicies), "rotatord.yml", "/etc/rotatord")
		if err == nil || !strings.Contains(err.Error(), "the same Vault secret") {
			t.Errorf("accounts with credential_vault %q and %q, one secret under VAULT_ADDR and VAULT_NAMESPACE, are accepted: %v", tc.a, tc.b, err)
		}
	}
}

// Two Vault sinks writing one secret under two spellings of the address,
// namespace or mount overwrite each other as two sinks written alike do.
func TestTwoVaultSinksOnOneSecretUnderAnotherSpelling(t *testing.T) {
	t.Setenv("VAULT_ADDR", "https://vault.example:8200")
	for _, tc := range []struct{ a, b string }{
		{"address: https://vault.example", "address: https://VAULT.example:443/"},
		{"namespace: team", "namespace: /team/"},
		{"mount: secret", "mount: secret/"},
		{"mount: secret", "address: https://vault.example:8200"},
	} {
		sink := func(f string) string {
			return `[{type: vault, ` + f + `, path: "apps/{{.Name}}", auth: {method: kubernetes, role: rotatord}}]`
		}
		_, err := Parse([]byte(`state_dir: /var/lib/rotatord
policies:
  - name: ci
    match: {name: "ci-*"}
    sinks: `+sink(tc.a)+`
  - name: build
    match: {name: "build-*"}
    sinks: `+sink(tc.b)+`
`), "rotatord.yml", "/etc/rotatord")
		if err == nil || !strings.Contains(err.Error(), "same target as") {
			t.Errorf("Vault sinks with %q and %q, one secret, are accepted: %v", tc.a, tc.b, err)
		}
	}
}
