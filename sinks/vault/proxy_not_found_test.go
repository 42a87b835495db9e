package vault

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/rotatord/rotatord/sinks"
)

// A proxy in front of Vault (its routes being reloaded, a misrouted
// upstream) may answer 404 with its own page. That is not Vault saying
// the secret or its version is gone: a read must not report the secret as
// holding nothing (the engine would delete the new key a write whose
// answer was lost may still put in Vault), and the fence of that write
// must not take the secret for deleted (its check-and-set would fail)
// and give up watching it.
func TestProxyNotFoundPageIsNotAMissingSecret(t *testing.T) {
	srv := needVault(t)
	e := newEnv(t, srv)
	proxy, inner := newWithholdingProxy(t, srv.Addr)
	var notFound atomic.Bool
	u, err := url.Parse(inner)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if notFound.Load() && r.Method == http.MethodGet && (strings.Contains(r.URL.Path, "/data/") || strings.Contains(r.URL.Path, "/metadata/")) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte("<html><body><h1>404 Not Found</h1>nginx</body></html>"))
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	s := e.sink(srv.token(t, nil), func(o *Options) { o.Address = front.URL })
	ctx := ctxT(t)
	roundTrip(t, e, s, "routed")
	if err := s.Probe(ctx, "routed"); err != nil {
		t.Fatal(err)
	}
	c := e.cred("routed")
	proxy.withhold(c.KeyID)
	notFound.Store(true)
	if err := s.Write(ctx, c); err == nil {
		t.Fatal("Write answered 504 succeeded")
	}
	proxy.withhold("")
	h, err := s.Read(ctx, "routed")
	e.check(err)
	if err == nil || errors.Is(err, sinks.ErrNotHeld) {
		t.Errorf("read through a proxy's 404 page: %q, %v; want an error that is not 'holds nothing'", h.KeyID, err)
	}
	notFound.Store(false)
	// The late write lands: the new key, which the engine kept.
	proxy.replay(t)
	if h, err := s.Read(ctx, "routed"); err != nil || !equal(h, c) {
		t.Errorf("read after the late write: %q, %v; want the new key %s", h.KeyID, err, c.KeyID)
	}
}

// An answer 200 to a data read without any "data" (a stub or a proxy's
// health page in JSON) is not KV v2 saying the secret holds nothing.
func TestReadAnsweredWithoutDataIsNotAMissingSecret(t *testing.T) {
	srv := needVault(t)
	e := newEnv(t, srv)
	u, err := url.Parse(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	var stub atomic.Bool
	rp := httputil.NewSingleHostReverseProxy(u)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if stub.Load() && r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/data/") {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"status":"ok"}`))
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	s := e.sink(srv.token(t, nil), func(o *Options) { o.Address = front.URL })
	ctx := ctxT(t)
	roundTrip(t, e, s, "stubbed")
	stub.Store(true)
	h, err := s.Read(ctx, "stubbed")
	e.check(err)
	if err == nil || errors.Is(err, sinks.ErrNotHeld) {
		t.Errorf("read answered 200 without data: %q, %v; want an error that is not 'holds nothing'", h.KeyID, err)
	}
}
