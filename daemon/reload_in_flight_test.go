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
	// A pass holds the engines until the test lets go.
	release := e.holdEngines()
	defer release()

	do := func(method, path string) (int, error) {
		req, _ := http.NewRequest(method, "http://"+e.listen+path, nil)
		tr := &http.Transport{}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	reloads := make(chan error, maxRequestsInFlight)
	for range maxRequestsInFlight {
		go func() {
			_, err := do("POST", "/-/reload")
			reloads <- err
		}()
	}
	// Those past maxReloadsWaiting are answered 503 at once.
	e.eventually("every reload waiting or answered", func() bool {
		return e.logs.FilterMessage("reload requested over HTTP").Len()+len(reloads) >= maxRequestsInFlight
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
			t.Errorf("GET /healthz while %d reloads wait: %v", maxRequestsInFlight, err)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("GET /healthz got no answer while %d reloads waited for the pass", maxRequestsInFlight)
		release()
		<-probed
	}
	release()
	for range maxRequestsInFlight {
		if err := <-reloads; err != nil {
			t.Errorf("reload: %v", err)
		}
	}
}
