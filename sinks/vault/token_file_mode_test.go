package vault

import (
	"os"
	"testing"
)

// `run` does not print validate's warnings: the sink itself warns, once,
// when the token file it reads lets every user of the host read it.
func TestWorldReadableTokenFileIsWarnedOfOnce(t *testing.T) {
	srv := needVault(t)
	e := newEnv(t, srv)
	tok := srv.token(t, nil)
	e.forbid(tok)
	f := e.file("token", tok)
	if err := os.Chmod(f, 0o644); err != nil {
		t.Fatal(err)
	}
	s := e.sink("", func(o *Options) { o.Auth = AuthOptions{Method: AuthToken, TokenFile: f} })
	for range 2 {
		if err := s.Probe(ctxT(t), "readable"); err != nil {
			t.Fatalf("Probe: %v", err)
		}
	}
	if n := e.logs.FilterMessageSnippet("every user on this host can read").Len(); n != 1 {
		t.Errorf("%d warnings of a world-readable token file, want 1", n)
	}
}
