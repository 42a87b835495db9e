package vault

import (
	"testing"
)

// A role whose tokens lack Vault's default policy (token_no_default_policy)
// gives tokens that may not revoke themselves: Vault answers revoke-self
// with 403, as it does for a token already invalid. A login that replaces
// such a token, still alive, leaves it so until its TTL: the sink must say
// so, not take it for revoked.
func TestReplacedTokenVaultRefusesToRevokeIsWarnedOf(t *testing.T) {
	srv := needVault(t)
	e := newEnv(t, srv)
	role := "nodefault-" + randHex(3)
	pol := "nodefault-" + randHex(3)
	// Data only: the metadata read of the probe is refused.
	srv.root(t, "PUT", "sys/policies/acl/"+pol, map[string]any{"policy": `path "secret/data/rotatord/*" { capabilities = ["create", "read", "update"] }
path "sys/capabilities-self" { capabilities = ["update"] }`})
	roleID, secretID := srv.appRole(t, role, map[string]any{"token_policies": []string{pol}, "token_no_default_policy": true})
	e.forbid(secretID)
	s := e.sink("", func(o *Options) {
		o.Auth = AuthOptions{Method: AuthAppRole, RoleID: roleID, SecretIDFile: e.file("secret-id", secretID)}
	})
	for range 2 {
		if err := s.Probe(ctxT(t), "refused"); err == nil {
			t.Fatal("Probe succeeded without the right to read the metadata")
		}
	}
	_ = s.Close()
	alive := liveTokensOfRole(t, srv, role)
	warned := e.logs.FilterMessageSnippet("refused to revoke").Len()
	t.Logf("%d tokens alive, %d warnings", alive, warned)
	if alive > 0 && warned == 0 {
		t.Errorf("%d tokens of role %s alive after Close, and no word of Vault refusing to revoke them", alive, role)
	}
}
