package fence

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// pausedAfterCheck is a fence that a test arms: the next question (the
// Transport's check right before a request leaves) is answered yes, and
// every later one no, as if the replica was paused right after that check
// and woke once another replica leads.
type pausedAfterCheck struct {
	state atomic.Int32 // 0: leads; 1: armed; 2: deposed
	asks  atomic.Int32
}

var errDeposed = errors.New("this replica does not hold the Lease")

func (p *pausedAfterCheck) fence() (time.Time, error) {
	p.asks.Add(1)
	if !p.state.CompareAndSwap(1, 2) && p.state.Load() == 2 {
		return time.Time{}, errDeposed
	}
	return time.Now().Add(time.Minute), nil
}

func TestSplitFencesWritesAtTheSocketAndSparesReads(t *testing.T) {
	var mu sync.Mutex
	var got []string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.Method+" "+r.Proto)
		mu.Unlock()
		_, _ = io.WriteString(w, "ok")
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	base := srv.Client().Transport.(*http.Transport) // trusts the server; offers h2
	p := &pausedAfterCheck{}
	rt := Split(base, p.fence, SpareReads)
	client := &http.Client{Transport: rt}
	defer client.CloseIdleConnections()
	do := func(method string) error {
		req, err := http.NewRequest(method, srv.URL, strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.ReadAll(resp.Body)
		return resp.Body.Close()
	}
	taken := func() []string {
		mu.Lock()
		defer mu.Unlock()
		out := got
		got = nil
		return out
	}

	// Leading: a write goes, over HTTP/1.1 (its connection fenced); a
	// read goes over the transport as it was (HTTP/2 here).
	if err := do(http.MethodPost); err != nil {
		t.Fatalf("a write while leading: %v", err)
	}
	if err := do(http.MethodGet); err != nil {
		t.Fatalf("a read while leading: %v", err)
	}
	if g := taken(); len(g) != 2 || g[0] != "POST HTTP/1.1" || g[1] != "GET HTTP/2.0" {
		t.Fatalf("server saw %q, want a POST over HTTP/1.1 and a GET over HTTP/2.0", g)
	}

	// Paused after the check: the write's bytes never leave, on the
	// connection kept from before or on any new one net/http tries.
	p.state.Store(1)
	if err := do(http.MethodPost); err == nil {
		t.Fatal("a write sent after the Lease was lost")
	}
	if g := taken(); len(g) != 0 {
		t.Fatalf("server received %q from a deposed replica", g)
	}
	if p.asks.Load() < 2 {
		t.Fatalf("the fence was asked %d times, want the check and the socket's write", p.asks.Load())
	}
	// A standby's reads are not refused by the fence of the writes.
	if err := do(http.MethodGet); err != nil {
		t.Fatalf("a read while deposed: %v", err)
	}
	if g := taken(); len(g) != 1 || g[0] != "GET HTTP/2.0" {
		t.Fatalf("server saw %q, want the read", g)
	}

	// Leading again: the next write goes (no connection left half used).
	p.state.Store(0)
	if err := do(http.MethodPost); err != nil {
		t.Fatalf("a write with the Lease held again: %v", err)
	}
	if g := taken(); len(g) != 1 || g[0] != "POST HTTP/1.1" {
		t.Fatalf("server saw %q, want the write", g)
	}
}
