package daemon

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// heldConnListener signals held once a connection that has sent marker and
// the end of its headers is read again: the server has read the request
// and is in it (reading its body), so the connection is active and a
// shutdown waits for it.
type heldConnListener struct {
	net.Listener
	marker []byte
	held   chan struct{}
	once   *sync.Once
}

func (l heldConnListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &heldConn{Conn: c, l: l}, nil
}

type heldConn struct {
	net.Conn
	l    heldConnListener
	mu   sync.Mutex
	read []byte
}

func (c *heldConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	if bytes.Contains(c.read, c.l.marker) && bytes.Contains(c.read, []byte("\r\n\r\n")) {
		c.l.once.Do(func() { close(c.l.held) })
	}
	c.mu.Unlock()
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.read = append(c.read, p[:n]...)
	c.mu.Unlock()
	return n, err
}

// TestStopShutsEveryListenAddressDownAtOnce: with several listen
// addresses, a stop shut their servers down one after the other (the run
// group calls its interrupts in turn), each waiting up to its grace for
// the requests in flight: with a request held on the first address, the
// second went on accepting connections for the whole of the first's
// grace, and the stop took a grace per address (two addresses held: 10 s,
// where the unit file gives the whole stop 45 s, 30 of them the rotation's).
// Every server must begin to shut down as the stop begins.
func TestStopShutsEveryListenAddressDownAtOnce(t *testing.T) {
	e := newEnv(t)
	addrs := []string{e.listen, freePort(t)}
	e.d.opts.Listen = addrs
	held := make(chan struct{})
	const marker = "X-Held-By-Test: 1"
	// A grace and a read timeout the test never waits out: the first
	// server's shutdown waits for the held request until the test lets it
	// go.
	e.d.opts.Web = WebOptions{ReadTimeout: time.Hour, shutdownGrace: time.Hour,
		listener: func(ln net.Listener) net.Listener {
			if ln.Addr().String() != addrs[0] {
				return ln
			}
			return heldConnListener{Listener: ln, marker: []byte(marker), held: held, once: new(sync.Once)}
		}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.d.Run(ctx, nil) }()
	var client net.Conn
	t.Cleanup(func() {
		cancel()
		if client != nil {
			client.Close()
		}
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("Run did not return after cancel and the held request let go")
		}
	})
	for _, addr := range addrs {
		e.eventually("port "+addr+" open", func() bool {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				return false
			}
			c.Close()
			return true
		})
	}

	// A request whose body never comes: once the handler has answered,
	// the server reads the body (to reuse the connection), and the
	// connection stays active.
	var err error
	if client, err = net.Dial("tcp", addrs[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Write([]byte("GET /metrics HTTP/1.1\r\nHost: x\r\n" + marker + "\r\nContent-Length: 1000\r\n\r\nab")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-held:
	case <-time.After(15 * time.Second):
		t.Fatal("the server never read the held request")
	}

	cancel()
	e.eventually("the second address closed while the first waits for its request", func() bool {
		c, err := net.Dial("tcp", addrs[1])
		if err != nil {
			return true
		}
		c.Close()
		return false
	})
	// The first server still waits for the held request (nothing came
	// back, the connection is open): else the stop did not wait for it,
	// and the check above proved nothing.
	client.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, err := client.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the held request was let go as the stop began (read %d bytes, %v): the test no longer holds the first server's shutdown", n, err)
	}
}
