package vault

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/rotatord/rotatord/sinks"
)

// withholdingProxy forwards requests to a real Vault, except each data
// write whose body holds withhold: it answers 504 at once and keeps the
// request, as a gateway does when Vault is slow to commit, and Vault may
// still apply it later (replay).
type withholdingProxy struct {
	target string
	mu     sync.Mutex
	hold   string
	held   []*http.Request
	bodies [][]byte
	// failWrites answers every other data write 504 without forwarding
	// it (Vault's storage cannot commit for now; reads still work).
	failWrites bool
}

func newWithholdingProxy(t *testing.T, target string) (*withholdingProxy, string) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	wp := &withholdingProxy{target: target}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		wp.mu.Lock()
		hold := wp.hold != "" && r.Method != http.MethodGet && strings.Contains(r.URL.Path, "/data/") && bytes.Contains(body, []byte(wp.hold))
		if hold {
			wp.held = append(wp.held, r.Clone(r.Context()))
			wp.bodies = append(wp.bodies, body)
		}
		fail := wp.failWrites && r.Method != http.MethodGet && strings.Contains(r.URL.Path, "/data/")
		wp.mu.Unlock()
		if hold || fail {
			http.Error(w, `{"errors":["context deadline exceeded"]}`, http.StatusGatewayTimeout)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return wp, srv.URL
}

func (wp *withholdingProxy) withhold(s string) {
	wp.mu.Lock()
	defer wp.mu.Unlock()
	wp.hold = s
}

// replay sends every withheld write to Vault, as it would apply them late.
func (wp *withholdingProxy) replay(t *testing.T) (applied int) {
	t.Helper()
	wp.mu.Lock()
	held, bodies := wp.held, wp.bodies
	wp.held, wp.bodies = nil, nil
	wp.mu.Unlock()
	for i, r := range held {
		req, err := http.NewRequest(r.Method, wp.target+r.URL.RequestURI(), bytes.NewReader(bodies[i]))
		if err != nil {
			t.Fatal(err)
		}
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 == 2 {
			applied++
		}
	}
	return applied
}

// A write whose answer is lost (a gateway's 504 while Vault has not
// committed it yet) must not land after the engine read the old key back
// and rolled the new key back: Vault would then hold a deleted key until
// the next rotation.
func TestLostWriteCannotLandAfterTheOldKeyIsReadBack(t *testing.T) {
	srv := needVault(t)
	e := newEnv(t, srv)
	proxy, addr := newWithholdingProxy(t, srv.Addr)
	s := e.sink(srv.token(t, nil), func(o *Options) { o.Address = addr })
	ctx := ctxT(t)
	old := roundTrip(t, e, s, "lost")

	c := e.cred("lost")
	proxy.withhold(c.KeyID)
	err := s.Write(ctx, c)
	if err == nil {
		t.Fatal("Write answered 504 succeeded")
	}
	e.check(err)
	proxy.withhold("")
	if h, err := s.Read(ctx, "lost"); err != nil || h.KeyID != old.KeyID {
		t.Fatalf("read back after the failed write: %q, %v; want the old key %s", h.KeyID, err, old.KeyID)
	}
	// The engine now deletes the new key. Vault applies the late write:
	if n := proxy.replay(t); n != 0 {
		t.Errorf("%d withheld writes applied after the read back", n)
	}
	if h, err := s.Read(ctx, "lost"); err != nil || h.KeyID != old.KeyID || !equal(h, old) {
		t.Errorf("Vault holds %q (%v) after the late write, want the old key %s and its secret", h.KeyID, err, old.KeyID)
	}
}

// The same for a secret's first write: the late write must not create it
// once the engine found no secret.
func TestLostFirstWriteCannotLandAfterNoSecretIsReadBack(t *testing.T) {
	srv := needVault(t)
	e := newEnv(t, srv)
	proxy, addr := newWithholdingProxy(t, srv.Addr)
	s := e.sink(srv.token(t, nil), func(o *Options) { o.Address = addr })
	ctx := ctxT(t)
	if err := s.Probe(ctx, "first"); err != nil {
		t.Fatal(err)
	}
	c := e.cred("first")
	proxy.withhold(c.KeyID)
	if err := s.Write(ctx, c); err == nil {
		t.Fatal("Write answered 504 succeeded")
	}
	proxy.withhold("")
	if _, err := s.Read(ctx, "first"); !errors.Is(err, sinks.ErrNotHeld) {
		t.Fatalf("read back after the failed first write: %v, want not held", err)
	}
	if n := proxy.replay(t); n != 0 {
		t.Errorf("%d withheld writes applied after the read back", n)
	}
	if h, err := s.Read(ctx, "first"); !errors.Is(err, sinks.ErrNotHeld) {
		t.Errorf("Vault holds %q (%v) after the late write, want nothing", h.KeyID, err)
	}
}
