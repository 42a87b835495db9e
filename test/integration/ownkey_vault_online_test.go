package integration

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidateOnlineProbesTheOwnCredentialStore: `validate --online`
// probes every sink, and the credential store is the own key's sink
// (policy _self): a Vault token that may read rotatord's credential but not
// write it passes a listing, yet every own-key rotation fails at its probe
// (run refuses to create a key it could not store). validate --online must
// say so before run finds out, naming the policy and the missing right.
func TestValidateOnlineProbesTheOwnCredentialStore(t *testing.T) {
	t.Parallel()
	v := startVault(t)
	e := newEnv(t)
	admin := e.sim.Admin
	v.srv.Root(t, http.MethodPost, "secret/data/rotatord/"+adminName, map[string]any{
		"data": map[string]string{"api_key": admin.Key, "api_secret": admin.Secret},
	}, nil)
	v.srv.Root(t, http.MethodPost, "sys/policies/acl/rotatord-read-only", map[string]any{"policy": `
path "secret/data/rotatord/*" { capabilities = ["read"] }
path "secret/metadata/rotatord/*" { capabilities = ["read"] }
`}, nil)
	v.srv.Root(t, http.MethodPost, "auth/token/create", map[string]any{
		"id": "rotatord-read-only", "policies": []string{"rotatord-read-only"}, "ttl": "1h",
	}, nil)
	readOnly := filepath.Join(t.TempDir(), "token")
	writeFile(t, readOnly, "rotatord-read-only\n", 0o600)
	config := strings.Replace(ownVaultConfig(e, v, `{max_age: 30d}`, ownQuietPolicy), v.tokenFile, readOnly, 1)
	writeFileAtomic(t, e.config, config)

	r := e.rotatord("validate", "--online")
	if r.code == 0 {
		t.Fatalf("validate --online passes with a token that cannot write the credential\n%s", r)
	}
	var fail string
	for _, l := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(l, "FAIL") && strings.Contains(l, selfPolicy) {
			fail = l
		}
	}
	if fail == "" || !strings.Contains(fail, "update") {
		t.Errorf("no FAIL line for policy %s naming the missing update right\n%s", selfPolicy, r)
	}
}
