package daemon

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestNoConnectionIsEvictedWhileNobodyWaits: a connection gives its place
// only to a new one that is there. The listener made room before it
// accepted, so once every place was taken it closed the slowest client
// at once (one on a high-latency link still sending its headers, a
// scrape being answered) for a connection that might never come.
func TestNoConnectionIsEvictedWhileNobodyWaits(t *testing.T) {
	e := newEnv(t)
	cl := &countingListener{}
	e.runWeb(WebOptions{
		MaxConnections:    2,
		ReadHeaderTimeout: 10 * time.Minute,
		ReadTimeout:       10 * time.Minute,
		listener:          func(ln net.Listener) net.Listener { cl.Listener = ln; return cl },
	})
	var conns []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", e.listen)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n"); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	e.eventually("both connections accepted", func() bool { return cl.open.Load() == 2 })
	// Both have waited for the end of their headers past evictSlowAfter,
	// and sent them within evictAfter: slow clients, not quiet ones.
	time.Sleep(evictAfter / 2)
	for i, c := range conns {
		if _, err := io.WriteString(c, "\r\n"); err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Errorf("connection %d, with nobody else connecting: %v", i, err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("connection %d: %s", i, resp.Status)
		}
	}
}
