package vault

import (
	"errors"
	"testing"
	"time"

	"github.com/rotatord/rotatord/sinks"
)

// The latest version rotatord wrote was soft-deleted by someone (Vault
// Agent then keeps the file it rendered from it, with the old key). A
// write whose answer is lost must not be fenced with an empty version:
// Vault Agent would render that, leaving its consumer without a key. Left
// unfenced, the secret reads as unknown (the engine keeps the new key)
// rather than as holding nothing (the engine would delete the new key,
// which the late write then puts in Vault).
func TestLostWriteOverADeletedVersionAddsNoEmptyVersion(t *testing.T) {
	srv := needVault(t)
	e := newEnv(t, srv)
	proxy, addr := newWithholdingProxy(t, srv.Addr)
	s := e.sink(srv.token(t, nil), func(o *Options) { o.Address = addr })
	ctx := ctxT(t)
	roundTrip(t, e, s, "deleted")
	_, v1 := e.secretData("deleted")
	srv.root(t, "DELETE", "secret/data/"+e.prefix+"/deleted", nil)

	if err := s.Probe(ctx, "deleted"); err != nil {
		t.Fatal(err)
	}
	c := e.cred("deleted")
	proxy.withhold(c.KeyID)
	if err := s.Write(ctx, c); err == nil {
		t.Fatal("Write answered 504 succeeded")
	}
	proxy.withhold("")
	md := srv.root(t, "GET", "secret/metadata/"+e.prefix+"/deleted", nil)
	if v := int(md["data"].(map[string]any)["current_version"].(float64)); v != v1 {
		t.Errorf("current version %d after the lost write, want %d (still the deleted one): a version consumers read was added", v, v1)
	}
	h, err := s.Read(ctx, "deleted")
	e.check(err)
	if err == nil || errors.Is(err, sinks.ErrNotHeld) || errors.Is(err, sinks.ErrUnreadable) {
		t.Errorf("read while the lost write may land: %q, %v; want an error saying it may still land", h.KeyID, err)
	}
	// The late write lands: the new key, which the engine kept.
	proxy.replay(t)
	if h, err := s.Read(ctx, "deleted"); err != nil || !equal(h, c) {
		t.Errorf("read after the late write: %q, %v; want the new key %s", h.KeyID, err, c.KeyID)
	}
}

// A lost write that did not land within unfencedFor never will (Vault
// ends a request after its max_request_duration, 90 s by default): the
// secret reads as what it holds again, so that the engine, which cannot
// deliver a new key whose secret no sink gives back, rolls it back rather
// than wait for a restart.
func TestUnfencedLostWriteReadsNormallyOnceItCanNoLongerLand(t *testing.T) {
	srv := needVault(t)
	e := newEnv(t, srv)
	proxy, addr := newWithholdingProxy(t, srv.Addr)
	s := e.sink(srv.token(t, nil), func(o *Options) { o.Address = addr })
	ctx := ctxT(t)
	roundTrip(t, e, s, "expired")
	srv.root(t, "DELETE", "secret/data/"+e.prefix+"/expired", nil)
	if err := s.Probe(ctx, "expired"); err != nil {
		t.Fatal(err)
	}
	defer func(d time.Duration) { unfencedFor = d }(unfencedFor)
	unfencedFor = 0
	c := e.cred("expired")
	proxy.withhold(c.KeyID)
	if err := s.Write(ctx, c); err == nil {
		t.Fatal("Write answered 504 succeeded")
	}
	proxy.withhold("")
	if h, err := s.Read(ctx, "expired"); !errors.Is(err, sinks.ErrNotHeld) {
		t.Errorf("read once the lost write can no longer land: %q, %v; want not held", h.KeyID, err)
	}
}
