package apiclient

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient/exosim"
	"github.com/rotatord/rotatord/secret"
)

// TestConnectionsAreReused is the regression test of a finding of the
// benchmark (bench/): with the transport's default of 2 idle connections
// per host and 4 requests in flight, most requests opened a new connection
// (2259 sockets in TIME_WAIT after a pass of 3001 requests), and against the
// real API each would negotiate TLS again. With Concurrency requests in
// flight, the client must keep that many connections and open no more.
func TestConnectionsAreReused(t *testing.T) {
	sim, err := exosim.New(exosim.DefaultSeed())
	if err != nil {
		t.Fatal(err)
	}
	var opened atomic.Int32
	srv := httptest.NewUnstartedServer(sim)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			opened.Add(1)
		}
	}
	// Latency keeps the requests in flight together.
	sim.SetFault(exosim.OpListAPIKeys, exosim.Fault{Latency: 2 * time.Millisecond})
	srv.Start()
	defer srv.Close()

	const concurrency = 4
	admin := sim.Admin()
	c, err := New(Config{
		Endpoint:    srv.URL + "/v2",
		Credentials: Credentials{Key: admin.Key, Secret: secret.Value(admin.Secret)},
		Timeout:     5 * time.Second,
		Concurrency: concurrency,
		RateLimit:   1e6,
		Burst:       1e6,
		// Transport left nil: the default transport is what is tested.
	})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 2 * concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 25 {
				if _, err := c.ListKeys(context.Background()); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("%d connections for 200 requests", opened.Load())
	// A new request may dial while another returns its connection, so a
	// few more than Concurrency are allowed; one per request is not.
	if n := opened.Load(); n > 2*concurrency {
		t.Errorf("200 requests with %d in flight opened %d connections, want at most %d", concurrency, n, 2*concurrency)
	}
}
