package daemon

import (
	"io"
	"net/http"
	"testing"
	"time"
)

// TestWaitingReloadsLeaveOtherRequestsServed: a reload waits for the pass
// in flight, which can be long; the requests handled at once are bounded
// (maxRequestsInFlight), and reloads waiting must not take every place,
// or the health endpoints and /metrics stop answering until the pass ends.
func TestWaitingReloadsLeaveOtherRequestsServed(t *testing.T) {
	e := newEnv(t)
	e.runWeb(WebOptions{EnableLifecycle: true})
	e.probeWhileReloadsWait(maxRequestsInFlight, true)
}

// TestWaitingReloadsLeaveAConnectionPlaceForTheProbes: a reload waiting for
// the pass in flight keeps its connection from eviction, and gives its
// place among the requests in flight back; without a bound on the
// reloads waiting so, enough of them (anyone who reaches the port when
// the lifecycle API is on) held every connection place and GET /healthz
// waited in the accept queue until the pass ended.
func TestWaitingReloadsLeaveAConnectionPlaceForTheProbes(t *testing.T) {
	e := newEnv(t)
	const places = 8
	e.runWeb(WebOptions{EnableLifecycle: true, MaxConnections: places})
	e.probeWhileReloadsWait(places, false)
}

// probeWhileReloadsWait holds the engines as a pass would, sends n
// reloads over HTTP (each on a connection of its own when keepAlives is
// false) and checks that GET /healthz is answered 200 while they wait;
// then lets the pass go and checks that every reload was answered.
func (e *env) probeWhileReloadsWait(n int, keepAlives bool) {
	t := e.t
	t.Helper()
	release := e.holdEngines()
	defer release()
	do := func(method, path string) (int, error) {
		req, _ := http.NewRequest(method, "http://"+e.listen+path, nil)
		tr := &http.Transport{DisableKeepAlives: !keepAlives}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	reloads := make(chan error, n)
	for range n {
		go func() {
			_, err := do("POST", "/-/reload")
			reloads <- err
		}()
	}
	// Every reload asked for has been answered (those past
	// maxReloadsWaiting get a 503 at once) or waits.
	e.eventually("every reload answered or waiting", func() bool {
		return e.logs.FilterMessage("reload requested over HTTP").Len()+len(reloads) >= n
	})
	probed := make(chan error, 1)
	go func() {
		code, err := do("GET", "/healthz")
		if err == nil && code != http.StatusOK {
			err = io.ErrUnexpectedEOF
		}
		probed <- err
	}()
	select {
	case err := <-probed:
		if err != nil {
			t.Errorf("GET /healthz while %d reloads wait: %v", n, err)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("GET /healthz got no answer while %d reloads waited for the pass", n)
		release()
		<-probed
	}
	release()
	for range n {
		if err := <-reloads; err != nil {
			t.Errorf("reload: %v", err)
		}
	}
}
