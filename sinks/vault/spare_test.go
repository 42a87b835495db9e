package vault

import (
	"net/http"
	"testing"
)

// TestSpareReadsAndLoginsFollowsTheAddressPath: logins are spared under
// the address's path as the Vault client sends it (path.Join cleans it),
// and nothing else is.
func TestSpareReadsAndLoginsFollowsTheAddressPath(t *testing.T) {
	for _, c := range []struct {
		addr, method, path string
		spared             bool
	}{
		{"https://vault:8200", http.MethodPost, "/v1/auth/approle/login", true},
		{"https://vault:8200", http.MethodPost, "/v1/secret/data/x", false},
		{"https://vault:8200", http.MethodGet, "/v1/secret/data/x", true},
		{"https://gw/vault", http.MethodPost, "/vault/v1/auth/approle/login", true},
		{"https://gw/vault/", http.MethodPost, "/vault/v1/auth/token/renew-self", true},
		{"https://gw/vault//", http.MethodPost, "/vault/v1/auth/approle/login", true},
		{"https://gw/a/../vault", http.MethodPost, "/vault/v1/auth/approle/login", true},
		{"https://gw/vault", http.MethodPost, "/vaultX/v1/auth/approle/login", false},
		{"https://gw/vault", http.MethodPost, "/v1/auth/approle/login", false},
		{"https://gw/vault", http.MethodPut, "/vault/v1/secret/data/x", false},
	} {
		req, err := http.NewRequest(c.method, "http://h"+c.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := spareReadsAndLogins(c.addr)(req); got != c.spared {
			t.Errorf("address %s, %s %s: spared %t, want %t", c.addr, c.method, c.path, got, c.spared)
		}
	}
}
