package apiclient

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rotatord/rotatord/secret"
)

// heldWriteConn passes each write on, and holds the first one after hold
// is set until release closes: a write whose bytes left, reported late.
type heldWriteConn struct {
	net.Conn
	hold    *atomic.Bool
	once    *sync.Once
	release <-chan struct{}
}

func (c heldWriteConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if c.hold.Load() {
		c.once.Do(func() { <-c.release })
	}
	return n, err
}

// Go's HTTP/2 client returns at the end of the request's context without
// waiting for the goroutine writing the request: WroteRequest may come
// after the error, though the body went. A create whose attempt ran out
// of time so, its body written, may have made a key: it is ambiguous,
// not a create never sent, retried (a second key, the first one's secret
// lost). Here the write of the body returns only after the attempt's
// deadline, its bytes gone: the server made the key.
func TestACreateWrittenAsItsAttemptEndsOverHTTP2IsAmbiguous(t *testing.T) {
	s := newH2Server(t, func(n int64) h2Action {
		if n == 1 {
			return h2MakeThenHold
		}
		return h2Answer
	})
	c, err := New(Config{
		Endpoint:    "https://" + s.ln.Addr().String() + "/v2",
		Credentials: Credentials{Key: "EXO1", Secret: secret.Value("s")},
		Timeout:     500 * time.Millisecond, MaxRetries: 1, RetryBaseDelay: time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.conns.CloseIdleConnections)
	var hold atomic.Bool
	release := make(chan struct{})
	var once sync.Once
	defer close(release)
	// The pooled connection: the listing's, warm, so that the first write
	// after the create's headers is its body (no settings to acknowledge).
	pooled := c.conns.RoundTripper.(*http.Transport)
	pooled.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return heldWriteConn{Conn: conn, hold: &hold, once: &once, release: release}, nil
	}
	if _, err := c.ListKeys(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		WroteHeaders: func() { hold.Store(true) },
	})
	k, err := c.CreateKey(ctx, "n", "2f4d6e0a-8c1b-4e3f-9a5d-7b6c5d4e3f2a")
	if got := s.posts.Load(); got != 1 {
		t.Errorf("the create was sent %d times, want 1 (the server made %d keys)", got, s.made.Load())
	}
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindAmbiguousCreate {
		t.Errorf("create whose body went as its attempt ran out: key %q, error %v; want an ambiguous create", k.Key.ID, err)
	}
}
