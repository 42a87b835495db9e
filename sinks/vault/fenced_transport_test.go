package vault

// Review of 19483bb (writes on a fenced clone of the transport).

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestCloseDropsFencedConnections: Close "drops idle
// connections"; with a fence, the writes ride a clone of the transport,
// whose connections Close leaves open (until the 90 s idle timeout), one
// pool per sink closed on each reload.
func TestCloseDropsFencedConnections(t *testing.T) {
	srv := needVault(t)
	e := newEnv(t, srv)
	var mu sync.Mutex
	var conns []net.Conn
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	closed := make(chan net.Conn, 64)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", strings.TrimPrefix(srv.Addr, "http://"))
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
			go func() {
				_, _ = io.Copy(up, c) // ends when the client closes its side
				up.Close()
				closed <- c
			}()
		}
	}()
	s := e.sink(srv.token(t, nil), func(o *Options) {
		o.Address = "http://" + l.Addr().String()
		o.Fence = func() (time.Time, error) { return time.Now().Add(time.Minute), nil }
	})
	roundTrip(t, e, s, "closed")
	mu.Lock()
	n := len(conns)
	mu.Unlock()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Every connection the sink opened is idle now: Close must close them
	// all. (Closed at once when it does; the test gives it 20 s.)
	deadline := time.After(20 * time.Second)
	for i := 0; i < n; i++ {
		select {
		case <-closed:
		case <-deadline:
			t.Fatalf("after Close, %d of the sink's %d connections to Vault are still open", n-i, n)
		}
	}
}

// TestWritesOverHTTP1WithH2Vault: api.NewClient configured the
// transport for HTTP/2 (x/net/http2); the fenced clone must not use it.
func TestWritesOverHTTP1WithH2Vault(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Path+" "+r.Proto)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"data":{}}`)
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	c, hc, err := newClient(srv.URL, "", TLSOptions{InsecureSkipVerify: true}, func() (time.Time, error) { return time.Now().Add(time.Minute), nil })
	if err != nil {
		t.Fatal(err)
	}
	defer hc.CloseIdleConnections()
	c.SetToken("hvs.x")
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		if _, err := c.Logical().ReadWithContext(ctx, "secret/data/a"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Logical().WriteWithContext(ctx, "secret/data/a", map[string]any{"data": map[string]any{"k": "v"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Logical().WriteWithContext(ctx, "auth/token/renew-self", nil); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, s := range seen {
		write := strings.HasPrefix(s, "PUT /v1/secret") || strings.HasPrefix(s, "POST /v1/secret")
		if write && !strings.HasSuffix(s, "HTTP/1.1") {
			t.Errorf("a fenced write went over %s", s)
		}
		if !write && !strings.HasSuffix(s, "HTTP/2.0") {
			t.Errorf("a spared request left HTTP/2: %s", s)
		}
	}
	t.Logf("%q", seen)
}
