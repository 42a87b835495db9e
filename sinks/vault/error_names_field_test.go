package vault

import (
	"strings"
	"testing"
)

// Vault's message about a mount or path whose name shares characters
// with the secret's field name (a mount named api_secrets) quotes no
// secret: it stays readable, so the operator sees the cause.
func TestVaultMessageNamingAMountLikeTheSecretFieldStaysReadable(t *testing.T) {
	srv := needVault(t)
	e := newEnv(t, srv)
	s := e.sink(srv.token(t, nil), func(o *Options) { o.Mount = "api_secrets" })
	err := s.Probe(ctxT(t), "x")
	if err == nil {
		t.Fatal("Probe of a mount that does not exist succeeded")
	}
	if strings.Contains(err.Error(), "not shown") {
		t.Errorf("Vault's message was hidden: %v", err)
	}
}
