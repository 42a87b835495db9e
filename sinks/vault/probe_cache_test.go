package vault

import (
	"errors"
	"testing"
)

// TestMarkerFromStaleProbe: a Write must not write its marker
// from metadata its Probe read before someone else wrote the secret: that
// replaces their custom metadata (another policy's marker, an owner).
func TestMarkerFromStaleProbe(t *testing.T) {
	srv := needVault(t)
	e := newEnv(t, srv)
	tok := srv.token(t, nil)
	ctx := ctxT(t)

	t.Run("another policy's sink", func(t *testing.T) {
		a := e.sink(tok, func(o *Options) { o.Policy = "a" })
		b := e.sink(tok, func(o *Options) { o.Policy = "b" })
		if err := a.Probe(ctx, "shared"); err != nil {
			t.Fatalf("a.Probe: %v", err)
		}
		if err := b.Probe(ctx, "shared"); err != nil {
			t.Fatalf("b.Probe: %v", err)
		}
		if err := b.Write(ctx, e.cred("shared")); err != nil {
			t.Fatalf("b.Write: %v", err)
		}
		err := a.Write(ctx, e.cred("shared"))
		e.check(err)
		if !errors.Is(err, ErrNotManaged) {
			t.Errorf("a.Write = %v, want ErrNotManaged (policy b's sink wrote the secret)", err)
		}
		if cm := e.customMetadata("shared"); cm[ManagedByKey] != ManagedByValue || cm[PolicyKey] != "b" {
			t.Errorf("policy b's secret has custom metadata %v, want b's marker", cm)
		}
		if err := b.Probe(ctx, "shared"); err != nil {
			e.check(err)
			t.Errorf("b's next Probe: %v", err)
		}
	})

	t.Run("someone else's secret", func(t *testing.T) {
		s := e.sink(tok, nil)
		if err := s.Probe(ctx, "theirs"); err != nil {
			t.Fatalf("Probe: %v", err)
		}
		e.writeAsOther("theirs", data2(e.cred("theirs")))
		e.srv.root(t, "POST", "secret/metadata/"+e.prefix+"/theirs",
			map[string]any{"custom_metadata": map[string]string{"owner": "team-x"}})
		err := s.Write(ctx, e.cred("theirs"))
		e.check(err)
		if err == nil {
			t.Fatal("Write overwrote someone else's secret")
		}
		if cm := e.customMetadata("theirs"); cm["owner"] != "team-x" {
			t.Errorf("the other writer's custom metadata is now %v, want owner=team-x kept", cm)
		}
	})
}

// TestMountTurnedV1: a KV v2 mount replaced by a KV v1 one within
// reuseFor of its check: the rotation must not pass for delivered.
func TestMountTurnedV1(t *testing.T) {
	srv := needVault(t)
	e := newEnv(t, srv)
	ctx := ctxT(t)
	mount := "rev31-" + randHex(3)
	enable := func(v string) {
		srv.root(t, "POST", "sys/mounts/"+mount, map[string]any{"type": "kv", "options": map[string]any{"version": v}})
	}
	enable("2")
	srv.root(t, "POST", "sys/policies/acl/"+mount, map[string]any{"policy": `path "` + mount + `/*" { capabilities = ["create", "read", "update"] }`})
	s := e.sink(srv.token(t, map[string]any{"policies": []string{mount}}), func(o *Options) { o.Mount = mount })
	roundTrip(t, e, s, "app") // mount seen as KV v2
	srv.root(t, "DELETE", "sys/mounts/"+mount, nil)
	enable("1")
	c := e.cred("app")
	err := s.Probe(ctx, "app")
	if err == nil {
		err = s.Write(ctx, c)
	}
	if err == nil {
		err = s.Verify(ctx, c)
	}
	e.check(err)
	if err == nil {
		h, rerr := s.Read(ctx, "app")
		t.Errorf("a rotation into a KV v1 mount passed Probe, Write and Verify; Read = %s, %v", h.KeyID, rerr)
	} else if !errors.Is(err, ErrMount) {
		t.Errorf("a rotation into a KV v1 mount failed with %v, want ErrMount", err)
	}
	// The next Probe checks the mount again, and says why.
	if err := s.Probe(ctx, "app"); !errors.Is(err, ErrMount) {
		t.Errorf("the next Probe = %v, want ErrMount", err)
	}
}

// TestProbedMapBounded: what Probes keep and no Write takes goes
// once reuseFor has passed.
func TestProbedMapBounded(t *testing.T) {
	srv := needVault(t)
	e := newEnv(t, srv)
	s := e.sink(srv.token(t, nil), nil)
	ctx := ctxT(t)
	for _, n := range []string{"m1", "m2", "m3"} {
		roundTrip(t, e, s, n)
		if err := s.Probe(ctx, n); err != nil { // rotation stops before Write
			t.Fatalf("Probe: %v", err)
		}
	}
	e.writeAsOther("foreign", data2(e.cred("foreign")))
	if err := s.Probe(ctx, "foreign"); !errors.Is(err, ErrNotManaged) {
		t.Fatalf("Probe(foreign) = %v, want ErrNotManaged", err)
	}
	s.mu.Lock()
	for p, pr := range s.probed {
		pr.at = pr.at.Add(-reuseFor)
		s.probed[p] = pr
	}
	s.mu.Unlock()
	roundTrip(t, e, s, "m4")
	s.mu.Lock()
	n := len(s.probed)
	s.mu.Unlock()
	if n != 0 {
		t.Errorf("%d expired or failed-Probe entries stay in s.probed, want 0", n)
	}
}
