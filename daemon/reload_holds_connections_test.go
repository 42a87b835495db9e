package daemon

import (
	"io"
	"net/http"
	"testing"
	"time"
)

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
	release := e.holdEngines()
	defer release()

	do := func(method, path string) (int, error) {
		req, _ := http.NewRequest(method, "http://"+e.listen+path, nil)
		tr := &http.Transport{DisableKeepAlives: true}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	reloads := make(chan error, places)
	for range places {
		go func() {
			_, err := do("POST", "/-/reload")
			reloads <- err
		}()
	}
	// Every reload asked for has been answered or waits.
	e.eventually("every reload answered or waiting", func() bool {
		return e.logs.FilterMessage("reload requested over HTTP").Len()+len(reloads) >= places
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
			t.Errorf("GET /healthz while %d reloads wait: %v", places, err)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("GET /healthz got no answer while %d reloads waited for the pass on the %d connection places", places, places)
		release()
		<-probed
	}
	release()
	for range places {
		if err := <-reloads; err != nil {
			t.Errorf("reload: %v", err)
		}
	}
}
