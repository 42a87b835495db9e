package main

import (
	"io"
	"net"
	"net/url"
	"testing"

	"github.com/rotatord/rotatord/apiclient/exosim"
)

// TestCountConnsServerClosed: a connection the server closes first (an
// HTTP/1.1 create's, "Connection: close") is counted too. Its client end
// is gone at once; the server's end waits in TIME_WAIT, on the
// simulator's port.
func TestCountConnsServerClosed(t *testing.T) {
	srv, err := exosim.Start(exosim.DefaultSeed(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	s := &sim{URL: srv.URL}
	if s.clientPorts() == nil {
		t.Skip("no /proc/net/tcp")
	}
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	c := countConns(s)
	const n = 5
	for range n {
		conn, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(conn, "GET /_sim/calls HTTP/1.1\r\nHost: "+u.Host+"\r\nConnection: close\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		// Read to the end: the server has closed its end first.
		if _, err := io.ReadAll(conn); err != nil {
			t.Fatal(err)
		}
		conn.Close()
	}
	if got := c.result(); got != n {
		t.Errorf("countConns = %d, want %d", got, n)
	}
}
