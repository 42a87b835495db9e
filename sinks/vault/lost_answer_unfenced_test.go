package vault

import (
	"errors"
	"testing"

	"github.com/rotatord/rotatord/sinks"
)

// When the fence cannot be written either (Vault answers no write for a
// while, its reads still work), the lost write may still land: a read of
// the secret must not show the old key as settled, or the engine deletes
// the new key that Vault then holds. Once the fence goes through, the old
// key reads back and the late write fails.
func TestUnfencedLostWriteDoesNotReadAsTheOldKey(t *testing.T) {
	srv := needVault(t)
	e := newEnv(t, srv)
	proxy, addr := newWithholdingProxy(t, srv.Addr)
	s := e.sink(srv.token(t, nil), func(o *Options) { o.Address = addr })
	ctx := ctxT(t)
	old := roundTrip(t, e, s, "unfenced")

	c := e.cred("unfenced")
	proxy.mu.Lock()
	proxy.hold, proxy.failWrites = c.KeyID, true
	proxy.mu.Unlock()
	if err := s.Write(ctx, c); err == nil {
		t.Fatal("Write answered 504 succeeded")
	}
	h, err := s.Read(ctx, "unfenced")
	e.check(err)
	if err == nil || errors.Is(err, sinks.ErrNotHeld) || errors.Is(err, sinks.ErrUnreadable) {
		t.Errorf("read while the lost write is not fenced: %q, %v; want an error saying it may still land", h.KeyID, err)
	}

	proxy.mu.Lock()
	proxy.hold, proxy.failWrites = "", false
	proxy.mu.Unlock()
	if h, err := s.Read(ctx, "unfenced"); err != nil || h.KeyID != old.KeyID {
		t.Fatalf("read once Vault takes writes again: %q, %v; want the old key %s", h.KeyID, err, old.KeyID)
	}
	if n := proxy.replay(t); n != 0 {
		t.Errorf("%d withheld writes applied after the read back", n)
	}
	if h, err := s.Read(ctx, "unfenced"); err != nil || !equal(h, old) {
		t.Errorf("Vault holds %q (%v) after the late write, want the old key %s", h.KeyID, err, old.KeyID)
	}
}
