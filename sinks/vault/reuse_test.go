package vault

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// countingProxy forwards HTTP requests to a real Vault server and counts
// them by method and path (without /v1/ and the test's prefix).
type countingProxy struct {
	mu     sync.Mutex
	counts map[string]int
	prefix string
}

func newCountingProxy(t *testing.T, target, prefix string) (*countingProxy, string) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	cp := &countingProxy{counts: map[string]int{}, prefix: prefix}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := strings.Replace(strings.TrimPrefix(r.URL.Path, "/v1/"), prefix+"/", "", 1)
		cp.mu.Lock()
		cp.counts[r.Method+" "+p]++
		cp.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return cp, srv.URL
}

// take returns the counts since the last call and starts again.
func (cp *countingProxy) take() map[string]int {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	c := cp.counts
	cp.counts = map[string]int{}
	return c
}

func total(c map[string]int) (n int) {
	for _, v := range c {
		n += v
	}
	return n
}

// TestVaultRotationRequests: a rotation (Probe, Write, Verify, then the
// Read before the old key goes) makes five requests to Vault once the
// mount is known: the Write uses the metadata its Probe read, and the
// mount's type is checked again only after reuseFor.
func TestVaultRotationRequests(t *testing.T) {
	srv := needVault(t)
	e := newEnv(t, srv)
	proxy, addr := newCountingProxy(t, srv.Addr, e.prefix)
	s := e.sink(srv.token(t, nil), func(o *Options) { o.Address = addr })
	ctx := ctxT(t)
	rotate := func(name string) map[string]int {
		t.Helper()
		proxy.take()
		c := roundTrip(t, e, s, name) // Probe, Write, Verify, Read
		got := proxy.take()
		if got["PUT secret/data/"+name] != 1 {
			t.Fatalf("%s: %d data writes, want 1: %v", name, got["PUT secret/data/"+name], got)
		}
		if data, _ := e.secretData(name); data[FieldAPIKey] != c.KeyID {
			t.Fatalf("%s: Vault holds %v, want key %s", name, data[FieldAPIKey], c.KeyID)
		}
		return got
	}
	rotate("first") // logs in, checks the mount, marks the new secret
	got := rotate("first")
	if n := total(got); n != 5 {
		t.Errorf("a rotation of a managed secret made %d requests to Vault, want 5: %v", n, got)
	}
	if n := got["GET secret/metadata/first"]; n != 1 {
		t.Errorf("the metadata was read %d times, want once (by Probe): %v", n, got)
	}
	if n := got["GET sys/internal/ui/mounts/secret"]; n != 0 {
		t.Errorf("the mount was checked again within reuseFor: %v", got)
	}

	// Once reuseFor has passed, the next Probe checks the mount again.
	s.mu.Lock()
	s.mountSeen = s.mountSeen.Add(-reuseFor)
	s.mu.Unlock()
	if got := rotate("first"); got["GET sys/internal/ui/mounts/secret"] != 1 {
		t.Errorf("the mount was not checked again after reuseFor: %v", got)
	}
	// And a Write with no Probe before it reads the metadata itself.
	proxy.take()
	c := e.cred("first")
	if err := s.Write(ctx, c); err != nil {
		t.Fatalf("Write without a Probe: %v", err)
	}
	if got := proxy.take(); got["GET secret/metadata/first"] != 1 {
		t.Errorf("a Write without a Probe did not read the metadata: %v", got)
	}
}

// TestVaultWriteAfterProbe: what happens to the secret between a Probe and
// the Write that uses the metadata it read.
func TestVaultWriteAfterProbe(t *testing.T) {
	srv := needVault(t)
	e := newEnv(t, srv)
	s := e.sink(srv.token(t, nil), nil)
	ctx := ctxT(t)
	// between runs f between the Probe of name and its Write.
	between := func(name string, f func()) error {
		t.Helper()
		if err := s.Probe(ctx, name); err != nil {
			t.Fatalf("Probe: %v", err)
		}
		f()
		err := s.Write(ctx, e.cred(name))
		e.check(err)
		return err
	}

	t.Run("written meanwhile", func(t *testing.T) {
		roundTrip(t, e, s, "busy")
		other := e.cred("busy")
		err := between("busy", func() { e.writeAsOther("busy", data2(other)) })
		if !errors.Is(err, ErrConflict) {
			t.Fatalf("Write = %v, want ErrConflict", err)
		}
		if data, _ := e.secretData("busy"); data[FieldAPIKey] != other.KeyID {
			t.Errorf("the other writer's version was overwritten")
		}
	})

	t.Run("created meanwhile", func(t *testing.T) {
		other := e.cred("fresh")
		err := between("fresh", func() { e.writeAsOther("fresh", data2(other)) })
		if !errors.Is(err, ErrNotManaged) {
			t.Fatalf("Write = %v, want ErrNotManaged (it reads the metadata again: the Probe saw no secret)", err)
		}
		if data, _ := e.secretData("fresh"); data[FieldAPIKey] != other.KeyID {
			t.Errorf("the other writer's secret was overwritten")
		}
		if _, ok := e.customMetadata("fresh")[ManagedByKey]; ok {
			t.Error("marker left on a secret someone else created")
		}
	})

	t.Run("probed too long ago", func(t *testing.T) {
		// The Probe saw rotatord's secret at version 1; someone writes
		// version 2 (the marker stays); reuseFor after the Probe, the
		// Write reads the metadata again and writes version 3. With
		// the Probe's metadata it would have failed its check-and-set.
		roundTrip(t, e, s, "late")
		err := between("late", func() {
			e.writeAsOther("late", data2(e.cred("late")))
			s.mu.Lock()
			p := s.mustPathLocked(t, "late")
			pr, ok := s.probed[p]
			if !ok {
				t.Error("the Probe of a managed secret kept no metadata")
			}
			pr.at = pr.at.Add(-reuseFor)
			s.probed[p] = pr
			s.mu.Unlock()
		})
		if err != nil {
			t.Fatalf("Write = %v, want it to read the metadata again and write", err)
		}
		if _, v := e.secretData("late"); v != 3 {
			t.Errorf("the secret is at version %d, want 3", v)
		}
	})
}

func (s *Sink) mustPathLocked(t *testing.T, name string) string {
	t.Helper()
	p, err := s.secretPath(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
