package apiclient

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rotatord/rotatord/secret"
)

// dripServer answers 200 with its headers at once, then one byte of a
// JSON body, then holds the rest until the client gives up.
func dripServer(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "1000")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte("{"))
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestBodyReadBounded: the attempt's timeout still bounds the
// read of the answer's body (headers in at once, body held).
func TestBodyReadBounded(t *testing.T) {
	srv := dripServer(t)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	c, err := New(Config{Endpoint: srv.URL + "/v2", Credentials: Credentials{Key: "EXOabc", Secret: secret.Value("s3cr3t")},
		Timeout: 200 * time.Millisecond, MaxRetries: -1, Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = c.GetKey(context.Background(), "EXO0000000000000000000000")
	el := time.Since(start)
	if el > 2*time.Second {
		t.Fatalf("GetKey took %s with a 200ms timeout and a held body", el)
	}
	var e *Error
	errors.As(err, &e)
	t.Logf("held body: %v after %s (kind %q, retryable %v)", err, el, e.Kind, e != nil && retryable(e))
}

// TestAttemptsReuseOneConnection: cancelling the attempt's context after the call
// does not cost the connection: sequential requests share one.
func TestAttemptsReuseOneConnection(t *testing.T) {
	var dials atomic.Int32
	f := newFixture(t, func(c *Config) {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		d := &net.Dialer{}
		tr.DialContext = func(ctx context.Context, n, a string) (net.Conn, error) {
			dials.Add(1)
			return d.DialContext(ctx, n, a)
		}
		t.Cleanup(tr.CloseIdleConnections)
		c.Transport = tr
	})
	keys, err := f.client.ListKeys(context.Background())
	if err != nil || len(keys) == 0 {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		if _, err := f.client.GetKey(context.Background(), keys[0].ID); err != nil {
			t.Fatal(err)
		}
		// an error answer too (404: body read by the transport)
		if _, err := f.client.GetKey(context.Background(), "EXO0000000000000000000000"); !errors.Is(err, ErrNotFound) {
			t.Fatal(err)
		}
	}
	if n := dials.Load(); n != 1 {
		t.Errorf("%d dials for 101 sequential requests, want 1", n)
	}
}

// TestNegativeTimeout: Config.Timeout < 0 (only reachable through
// the library; config validation refuses it). Before b7a7986 http.Client
// treated it as no timeout; with the timeout on each attempt's context,
// every attempt's context was born expired and nothing was ever sent.
// New refuses it now, naming it.
func TestNegativeTimeout(t *testing.T) {
	_, err := New(Config{Endpoint: "http://192.0.2.1/v2", Credentials: Credentials{Key: "EXOabc", Secret: secret.Value("s3cr3tvalue")},
		Timeout: -time.Second})
	if err == nil || !strings.Contains(err.Error(), "timeout -1s") {
		t.Fatalf("New with Timeout -1s: %v, want an error naming the timeout", err)
	}
}
