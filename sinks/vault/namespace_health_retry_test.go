package vault

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"
)

// sys/health failing at the first mount check, retries included (a gateway's 502, a sealed
// node's 503) says nothing about the edition: the check of the namespace
// is made again at the next mount check, and warns then.
func TestNamespaceCheckIsMadeAgainAfterAFailedHealthAnswer(t *testing.T) {
	srv := needVault(t)
	e := newEnv(t, srv)
	u, err := url.Parse(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	var failed atomic.Int32
	rp := httputil.NewSingleHostReverseProxy(u)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/sys/health" && failed.Add(1) <= 5 {
			http.Error(w, "bad gateway", http.StatusBadGateway)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	s := e.sink(srv.token(t, nil), func(o *Options) { o.Namespace = "team-a"; o.Address = front.URL })
	for range 2 {
		if err := s.Probe(ctxT(t), "ns"); err != nil {
			t.Fatalf("Probe: %v", err)
		}
		s.setMountSeen(false) // as when reuseFor has passed
	}
	if failed.Load() < 1 {
		t.Fatal("sys/health was never asked")
	}
	if n := e.logs.FilterMessageSnippet("ignores the namespace").Len(); n != 1 {
		t.Errorf("%d warnings that this Vault ignores the namespace, want 1", n)
	}
}
