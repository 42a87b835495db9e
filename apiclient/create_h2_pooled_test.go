package apiclient

import (
	"context"
	"encoding/pem"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient/exosim"
	"github.com/rotatord/rotatord/secret"
)

// tlsSim is the simulator behind an httptest TLS server that counts the
// connections it accepts and closes.
type tlsSim struct {
	sim            *exosim.Sim
	srv            *httptest.Server
	opened, closed atomic.Int64
}

// newTLSSim starts the simulator over TLS, offering h2 when h2 is set;
// idle, when not zero, is the server's IdleTimeout (over h2, Go's server
// sends GOAWAY as it closes an idle connection).
func newTLSSim(t *testing.T, h2 bool, idle time.Duration) *tlsSim {
	t.Helper()
	sim, err := exosim.New(exosim.DefaultSeed(), exosim.WithRand(1))
	if err != nil {
		t.Fatal(err)
	}
	s := &tlsSim{sim: sim, srv: httptest.NewUnstartedServer(sim)}
	s.srv.EnableHTTP2 = h2
	s.srv.Config.IdleTimeout = idle
	s.srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			s.opened.Add(1)
		case http.StateClosed, http.StateHijacked:
			s.closed.Add(1)
		}
	}
	s.srv.StartTLS()
	t.Cleanup(s.srv.Close)
	cf := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(cf, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SSL_CERT_FILE", cf)
	return s
}

func (s *tlsSim) client(t *testing.T, mutate ...func(*Config)) *Client {
	t.Helper()
	admin := s.sim.Admin()
	cfg := Config{
		Endpoint:    s.srv.URL + "/v2",
		Credentials: Credentials{Key: admin.Key, Secret: secret.Value(admin.Secret)},
		Timeout:     10 * time.Second, MaxRetries: -1,
		RateLimit: 1e6, Burst: 1e6,
	}
	for _, m := range mutate {
		m(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.conns.CloseIdleConnections)
	return c
}

// createAll makes one key per name, all at once.
func createAll(t *testing.T, c *Client, names ...string) {
	t.Helper()
	createAllCtx(t, context.Background(), c, names...)
}

func createAllCtx(t *testing.T, ctx context.Context, c *Client, names ...string) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, len(names))
	for i, n := range names {
		wg.Go(func() {
			_, errs[i] = c.CreateKey(ctx, n, exosim.CIRoleID)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("create %s: %v", names[i], err)
		}
	}
}

// Over HTTP/2 a server closing an idle connection says so (GOAWAY, with
// the last stream it processed), and Go's client sends again, on another
// connection, the streams it never processed: the reason a create goes on
// a connection of its own over HTTP/1.1 does not hold, and over TLS that
// connection, a handshake per create, was about 40% of a rotation's CPU.
// A create shares the pooled connection when its last answer was HTTP/2,
// and recent. Over HTTP/1.1, and under leader election (the fenced
// transport speaks HTTP/1.1 only), each create still opens its own.
func TestCreatesShareTheHTTP2Connection(t *testing.T) {
	for _, tc := range []struct {
		name      string
		h2, gated bool
		want      int64 // connections the 9 creates open
	}{
		{name: "h2", h2: true, want: 0},
		{name: "http1.1", h2: false, want: 9},
		{name: "h2 gated", h2: true, gated: true, want: 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTLSSim(t, tc.h2, 0)
			c := s.client(t, func(cfg *Config) {
				if tc.gated {
					cfg.Gate = func() (time.Time, error) { return time.Now().Add(time.Minute), nil }
				}
			})
			// The clock stands still: every answer is as recent as can be.
			t0 := time.Now()
			c.conns.now = func() time.Time { return t0 }
			if _, err := c.ListKeys(context.Background()); err != nil {
				t.Fatal(err)
			}
			before := s.opened.Load()
			for i := range 5 {
				createAll(t, c, fmt.Sprintf("one-%d", i))
			}
			createAll(t, c, "four-0", "four-1", "four-2", "four-3")
			if got := s.opened.Load() - before; got != tc.want {
				t.Errorf("9 creates after a listing (5 one after another, 4 at once) opened %d connections, want %d", got, tc.want)
			}
		})
	}
}

// An HTTP/2 connection can still be dropped without a GOAWAY (a NAT or an
// L4 load balancer forgetting an idle flow): a create shares it only when
// it carried an answer less than a second ago.
func TestACreateOpensItsOwnConnectionWhenTheLastHTTP2AnswerIsOld(t *testing.T) {
	s := newTLSSim(t, true, 0)
	c := s.client(t)
	t0 := time.Now()
	var ahead atomic.Int64 // how far the client's clock is past t0
	c.conns.now = func() time.Time { return t0.Add(time.Duration(ahead.Load())) }
	if _, err := c.ListKeys(context.Background()); err != nil {
		t.Fatal(err)
	}
	ahead.Store(int64(time.Second))
	before := s.opened.Load()
	createAll(t, c, "aged-0")
	createAll(t, c, "aged-1") // the pooled connection's last answer is the listing still
	if got := s.opened.Load() - before; got != 2 {
		t.Errorf("2 creates a second after the last answer on the pooled connection opened %d connections, want 2 (one each)", got)
	}
	if _, err := c.ListKeys(context.Background()); err != nil {
		t.Fatal(err)
	}
	before = s.opened.Load()
	createAll(t, c, "fresh-0")
	if got := s.opened.Load() - before; got != 0 {
		t.Errorf("a create right after a listing over h2 opened %d connections, want 0", got)
	}
}

// A server closing idle HTTP/2 connections sends GOAWAY, naming the last
// stream it processed; a create sent on the connection as it goes is
// above that stream, never processed, and Go's client sends it again on
// another connection. Here the server closes a connection idle for 5 ms,
// and the creates come at random intervals around that (one at a time,
// and 4 at once): every create must succeed, on its only attempt, and
// make exactly one key.
func TestCreatesOverHTTP2OutliveTheServersIdleGOAWAY(t *testing.T) {
	s := newTLSSim(t, true, 5*time.Millisecond)
	c := s.client(t)
	if _, err := c.ListKeys(context.Background()); err != nil {
		t.Fatal(err)
	}
	keysBefore := len(s.sim.Keys())
	// Headers written more often than there are creates: streams a
	// GOAWAY refused, sent again (a figure for the log, as the timing
	// decides whether any is).
	var written atomic.Int64
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		WroteHeaders: func() { written.Add(1) },
	})
	var names []string
	for i := range 50 {
		batch := []string{fmt.Sprintf("goaway-%d", i)}
		if i%5 == 4 {
			for j := 1; j < 4; j++ {
				batch = append(batch, fmt.Sprintf("goaway-%d-%d", i, j))
			}
		}
		createAllCtx(t, ctx, c, batch...)
		names = append(names, batch...)
		// Idle for 0 to 10 ms: the server's idle timeout (5 ms) falls
		// before some creates, after others, and at times as they go.
		time.Sleep(time.Duration(rand.Int64N(int64(10 * time.Millisecond))))
	}
	count := map[string]int{}
	for _, k := range s.sim.Keys() {
		if k.Alive {
			count[k.Name]++
		}
	}
	for _, n := range names {
		if count[n] != 1 {
			t.Errorf("%d keys named %s, want 1", count[n], n)
		}
	}
	if got := len(s.sim.Keys()) - keysBefore; got != len(names) {
		t.Errorf("%d creates made %d keys", len(names), got)
	}
	t.Logf("%d creates, their headers written %d times; the server opened %d connections and closed %d", len(names), written.Load(), s.opened.Load(), s.closed.Load())
	if s.closed.Load() == 0 {
		t.Error("the server closed no idle connection: the test tested nothing")
	}
}
