package vault

import (
	"testing"
)

// Vault's community edition ignores X-Vault-Namespace: a sink given a
// namespace writes to the root namespace's mount, while its target, its
// logs and validate --online all name the namespace. The sink says so,
// once, at its first probe.
func TestNamespaceOnACommunityVaultIsWarnedOf(t *testing.T) {
	srv := needVault(t)
	e := newEnv(t, srv)
	s := e.sink(srv.token(t, nil), func(o *Options) { o.Namespace = "team-a" })
	for range 2 {
		if err := s.Probe(ctxT(t), "ns"); err != nil {
			t.Fatalf("Probe: %v", err)
		}
	}
	if n := e.logs.FilterMessageSnippet("ignores the namespace").Len(); n != 1 {
		t.Errorf("%d warnings that this Vault ignores the namespace, want 1", n)
	}

	e2 := newEnv(t, srv)
	s2 := e2.sink(srv.token(t, nil), nil)
	if err := s2.Probe(ctxT(t), "ns"); err != nil {
		t.Fatalf("Probe: %v", err)
	}
	if n := e2.logs.FilterMessageSnippet("ignores the namespace").Len(); n != 0 {
		t.Errorf("%d namespace warnings for a sink without a namespace, want 0", n)
	}
}
