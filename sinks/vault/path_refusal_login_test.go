package vault

import (
	"testing"
)

// Vault answers 403 both to a token it no longer accepts and to a valid
// token whose policies do not cover the path. The sink logs in again for
// either (a role given the missing policy since gives it to the new
// token), but the login replaced a live token without revoking it: each
// refused operation (every probe of a path the policy misses, at each
// pass) left one more token alive until its TTL. A sink that logs in must
// end with no token of its own alive after Close.
func TestPathRefusalLeavesNoLoginTokenAlive(t *testing.T) {
	srv := needVault(t)
	e := newEnv(t, srv)
	role := "norights-" + randHex(3)
	pol := "norights-" + randHex(3)
	// Data only: the metadata read of the probe is refused.
	srv.root(t, "PUT", "sys/policies/acl/"+pol, map[string]any{"policy": `path "secret/data/rotatord/*" { capabilities = ["create", "read", "update"] }`})
	roleID, secretID := srv.appRole(t, role, map[string]any{"token_policies": []string{pol}})
	e.forbid(secretID)
	s := e.sink("", func(o *Options) {
		o.Auth = AuthOptions{Method: AuthAppRole, RoleID: roleID, SecretIDFile: e.file("secret-id", secretID)}
	})
	for range 3 {
		err := s.Probe(ctxT(t), "refused")
		if err == nil {
			t.Fatal("Probe succeeded without the right to read the metadata")
		}
		e.check(err)
	}
	_ = s.Close()
	if n := liveTokensOfRole(t, srv, role); n != 0 {
		t.Errorf("%d tokens of role %s alive after Close, want 0", n, role)
	}
}

// liveTokensOfRole counts the live tokens an AppRole role issued.
func liveTokensOfRole(t *testing.T, srv *vaultServer, role string) int {
	t.Helper()
	out := srv.root(t, "LIST", "auth/token/accessors", nil)
	keys, _ := out["data"].(map[string]any)["keys"].([]any)
	n := 0
	for _, k := range keys {
		var info map[string]any
		err := srv.Do(ctxT(t), "root", "POST", "auth/token/lookup-accessor", map[string]any{"accessor": k}, &info)
		if err != nil {
			continue // revoked meanwhile
		}
		meta, _ := info["data"].(map[string]any)["meta"].(map[string]any)
		if meta["role_name"] == role {
			n++
		}
	}
	return n
}

// A secret_id may be good for a few logins only (secret_id_num_uses, a
// common AppRole hardening). A 403 to a token Vault still takes is its
// policies refusing the path: a new login gets the same policies (an ACL
// policy edited since applies to the live token already), and spends one
// use of the secret_id. Every refused probe spent one: once they were all
// spent, the sink could no longer log in when its token ended, though the
// policy had been fixed meanwhile.
func TestPathRefusalSpendsNoUseOfTheSecretID(t *testing.T) {
	srv := needVault(t)
	e := newEnv(t, srv)
	role := "uses-" + randHex(3)
	pol := "uses-" + randHex(3)
	// Data only: the metadata read of the probe is refused.
	srv.root(t, "PUT", "sys/policies/acl/"+pol, map[string]any{"policy": `path "secret/data/rotatord/*" { capabilities = ["create", "read", "update"] }`})
	roleID, secretID := srv.appRole(t, role, map[string]any{"token_policies": []string{pol}, "secret_id_num_uses": 3})
	e.forbid(secretID)
	s := e.sink("", func(o *Options) {
		o.Auth = AuthOptions{Method: AuthAppRole, RoleID: roleID, SecretIDFile: e.file("secret-id", secretID)}
	})
	for range 3 {
		if err := s.Probe(ctxT(t), "refused"); err == nil {
			t.Fatal("Probe succeeded without the right to read the metadata")
		}
	}
	// The policy fixed; then the token ends (revoked here): the sink must
	// log in again.
	srv.root(t, "PUT", "sys/policies/acl/"+pol, map[string]any{"policy": policy})
	srv.root(t, "POST", "auth/token/revoke", map[string]any{"token": currentToken(s)})
	if err := s.Probe(ctxT(t), "refused"); err != nil {
		e.check(err)
		t.Errorf("Probe with the token ended: %v (the refused probes spent the secret_id's uses)", err)
	}
}
