package daemon

import (
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestSlowScrapesLeaveTheProbesServed: at most maxRequestsInFlight
// requests are handled at once; scrapes that take long (a slow gather,
// a client that does not read its answer, up to the write timeout) took
// every place, and the kubelet's liveness probe waited behind them past
// its timeout: a restart in the middle of a pass. The probes have places
// of their own.
func TestSlowScrapesLeaveTheProbesServed(t *testing.T) {
	e := newEnv(t)
	bc := &blockingCollector{
		desc:    prometheus.NewDesc("test_slow_collector", "held by the test", nil, nil),
		entered: make(chan struct{}), release: make(chan struct{}),
	}
	e.reg.MustRegister(bc)
	released := false
	release := func() {
		if !released {
			released = true
			close(bc.release)
		}
	}
	defer release()
	e.runWeb(WebOptions{})

	get := func(path string) error {
		tr := &http.Transport{DisableKeepAlives: true}
		resp, err := (&http.Client{Transport: tr}).Get("http://" + e.listen + path)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != http.StatusOK {
			return io.ErrUnexpectedEOF
		}
		return nil
	}
	scrapes := make(chan error, maxRequestsInFlight)
	for range maxRequestsInFlight {
		go func() { scrapes <- get("/metrics") }()
	}
	e.eventually("every scrape held in its gather", func() bool { return bc.in.Load() == maxRequestsInFlight })
	for _, path := range []string{"/healthz", "/readyz", "/-/healthy"} {
		probed := make(chan error, 1)
		go func() { probed <- get(path) }()
		select {
		case err := <-probed:
			if err != nil {
				t.Errorf("GET %s while %d scrapes are slow: %v", path, maxRequestsInFlight, err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("GET %s got no answer while %d scrapes were slow", path, maxRequestsInFlight)
			release()
			<-probed
		}
	}
	release()
	for range maxRequestsInFlight {
		if err := <-scrapes; err != nil {
			t.Errorf("scrape: %v", err)
		}
	}
}
