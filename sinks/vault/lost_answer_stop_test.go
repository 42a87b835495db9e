package vault

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A stop abandons the pass after its 30 s: the Vault write in flight is
// cancelled, and its fence runs on. Against a Vault that no longer
// answers, the fence must keep to one bound in all, not one per attempt:
// three attempts of 10 s each held the stop 30 s more, past systemd's stop
// timeout (45 s), so the process was killed. The read back that follows,
// with the same ended context, waits for no fence of its own.
func TestLostWriteFenceKeepsOneBoundAfterAStopCancelsTheWrite(t *testing.T) {
	srv := needVault(t)
	e := newEnv(t, srv)
	u, err := url.Parse(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer func(d time.Duration) { fenceTimeout = d }(fenceTimeout)
	fenceTimeout = 300 * time.Millisecond

	var (
		mu      sync.Mutex
		hold    string
		hang    bool
		hung    atomic.Int32 // fence requests left unanswered
		written = make(chan struct{}, 1)
	)
	rp := httputil.NewSingleHostReverseProxy(u)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		mu.Lock()
		h, hg := hold, hang
		mu.Unlock()
		switch {
		case h != "" && r.Method != http.MethodGet && bytes.Contains(body, []byte(h)):
			// The write Vault never answers, until the stop cancels it.
			select {
			case written <- struct{}{}:
			default:
			}
			<-r.Context().Done()
			return
		case hg && strings.Contains(r.URL.Path, "/data/"):
			// Vault answers nothing more on the path: the fence's requests.
			hung.Add(1)
			<-r.Context().Done()
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	s := e.sink(srv.token(t, nil), func(o *Options) { o.Address = proxy.URL })
	roundTrip(t, e, s, "stop")
	if err := s.Probe(ctxT(t), "stop"); err != nil {
		t.Fatal(err)
	}

	c := e.cred("stop")
	mu.Lock()
	hold, hang = c.KeyID, true
	mu.Unlock()
	ctx, cancel := context.WithCancel(ctxT(t))
	go func() {
		<-written
		cancel() // the stop abandons the pass
	}()
	err = s.Write(ctx, c)
	cancel()
	if err == nil {
		t.Fatal("a cancelled write succeeded")
	}
	e.check(err)
	// The engine then reads the secret back, with the same ended context:
	// the fence is not tried again for it.
	if h, err := s.Read(ctx, "stop"); err == nil {
		t.Errorf("read back with the lost write unfenced: %q, want an error", h.KeyID)
	}
	if n := hung.Load(); n > 1 {
		t.Errorf("the fence sent %d requests Vault did not answer, each waited its own %v: the stop waits for all of them", n, fenceTimeout)
	}
}
