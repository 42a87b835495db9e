package daemon

import (
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// blockingCollector holds a scrape until release is closed.
type blockingCollector struct {
	desc    *prometheus.Desc
	entered chan struct{}
	release chan struct{}
	once    sync.Once
	in      atomic.Int64 // scrapes in Collect
}

func (c *blockingCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *blockingCollector) Collect(ch chan<- prometheus.Metric) {
	c.in.Add(1)
	defer c.in.Add(-1)
	c.once.Do(func() { close(c.entered) })
	<-c.release
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, 1)
}

// TestAScrapeBeingAnsweredIsNotEvictedForTricklers: when every connection
// place is taken, a new connection took the place of one that had
// received nothing for a second before one trickling its headers: a
// scrape whose answer takes over a second (a large organization, or a
// request waiting for its place in flight) was cut for a client that
// keeps reconnecting and trickling, and Prometheus lost the scrape. A
// connection whose request is being answered goes only when no idle
// connection and no trickling one is left.
func TestAScrapeBeingAnsweredIsNotEvictedForTricklers(t *testing.T) {
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
	cl := &countingListener{}
	e.runWeb(WebOptions{
		MaxConnections:    2,
		ReadHeaderTimeout: 10 * time.Minute,
		ReadTimeout:       10 * time.Minute,
		listener:          func(ln net.Listener) net.Listener { cl.Listener = ln; return cl },
	})

	scraped := make(chan error, 1)
	go func() {
		tr := &http.Transport{DisableKeepAlives: true}
		resp, err := (&http.Client{Transport: tr}).Get("http://" + e.listen + "/metrics")
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err == nil && resp.StatusCode != http.StatusOK {
				err = io.ErrUnexpectedEOF
			}
		}
		scraped <- err
	}()
	select {
	case <-bc.entered:
	case <-time.After(15 * time.Second):
		t.Fatal("the scrape never reached the collector")
	}

	halt := e.trickleHeaders(1, evictAfter/5)
	defer halt()
	e.eventually("the trickling connection accepted", func() bool { return cl.open.Load() == 2 })
	// The scrape's connection has received nothing for over a second.
	time.Sleep(evictAfter + evictAfter/2)

	probed := make(chan error, 1)
	go func() {
		tr := &http.Transport{DisableKeepAlives: true}
		resp, err := (&http.Client{Transport: tr}).Get("http://" + e.listen + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		probed <- err
	}()
	select {
	case err := <-probed:
		if err != nil {
			t.Errorf("GET /healthz: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("GET /healthz got no answer in 30 s")
	}
	release()
	if err := <-scraped; err != nil {
		t.Errorf("the scrape being answered when a new connection needed its place: %v", err)
	}
}
