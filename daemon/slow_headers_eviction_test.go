package daemon

import (
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// TestTricklingHeadersDoNotStarveTheProbes: a connection that has sent
// nothing for a second gives its place to a new one, but a client that
// sends its request's headers a byte at a time is never quiet. Against the
// real binary, 300 such connections (one line every 500 ms, reconnecting
// when dropped) kept GET /healthz waiting in the accept queue for 30 to
// 37 s, past the liveness probe's 5 s: a restart loop. When every place
// is taken, the connection that has waited longest for its headers goes.
func TestTricklingHeadersDoNotStarveTheProbes(t *testing.T) {
	e := newEnv(t)
	cl := &countingListener{}
	e.runWeb(WebOptions{
		MaxConnections: 2,
		// Long, so that only the eviction can free a place in this test.
		ReadHeaderTimeout: 10 * time.Minute,
		ReadTimeout:       10 * time.Minute,
		listener:          func(ln net.Listener) net.Listener { cl.Listener = ln; return cl },
	})
	halt := e.trickleHeaders(2, evictAfter/5)
	defer halt()
	e.eventually("both trickling connections accepted", func() bool { return cl.open.Load() == 2 })

	probed := make(chan error, 1)
	go func() {
		tr := &http.Transport{DisableKeepAlives: true}
		resp, err := (&http.Client{Transport: tr}).Get("http://" + e.listen + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				err = io.ErrUnexpectedEOF
			}
		}
		probed <- err
	}()
	select {
	case err := <-probed:
		if err != nil {
			t.Errorf("GET /healthz while 2 clients trickle their headers into the 2 places: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("GET /healthz got no answer in 30 s while 2 clients trickled their headers into the 2 places")
		halt()
		<-probed
	}
}

// trickleHeaders opens n connections to the daemon's HTTP port that each
// send a request line, then a header line every interval, and never end
// their headers; halt closes them and waits for their writers.
func (e *env) trickleHeaders(n int, interval time.Duration) (halt func()) {
	e.t.Helper()
	stop := make(chan struct{})
	var stopOnce sync.Once
	var wg sync.WaitGroup
	halt = func() { stopOnce.Do(func() { close(stop) }); wg.Wait() }
	for range n {
		c, err := net.Dial("tcp", e.listen)
		if err != nil {
			halt()
			e.t.Fatal(err)
		}
		wg.Go(func() {
			defer c.Close()
			if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\n"); err != nil {
				return
			}
			tick := time.NewTicker(interval)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					if _, err := io.WriteString(c, "X-Slow: 1\r\n"); err != nil {
						return
					}
				}
			}
		})
	}
	return halt
}
