package apiclient

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rotatord/rotatord/secret"
)

// hangingDial: every dial waits for its context: no request ever leaves.
func hangingDial(dials *atomic.Int32) *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, n, a string) (net.Conn, error) {
		dials.Add(1)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(150 * time.Millisecond):
			return nil, errors.New("no route")
		}
	}
	return tr
}

// TestCreateNeverLeft: a create whose attempts time out before
// the request is written is not ambiguous and is retried.
func TestCreateNeverLeft(t *testing.T) {
	var dials atomic.Int32
	c, err := New(Config{Endpoint: "http://192.0.2.1/v2", Credentials: Credentials{Key: "EXOabc", Secret: secret.Value("s3cr3tvalue")},
		Timeout: 50 * time.Millisecond, MaxRetries: 2, RetryBaseDelay: time.Millisecond, Transport: hangingDial(&dials)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateKey(context.Background(), "n", "11111111-1111-1111-1111-111111111111")
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindUnavailable || e.Attempts != 3 || errors.Is(err, ErrAmbiguousCreate) {
		t.Fatalf("create never sent: %v, want unavailable after 3 attempts, not ambiguous", err)
	}
	if dials.Load() != 3 {
		t.Errorf("%d dials, want 3", dials.Load())
	}
	t.Log(err)
	time.Sleep(300 * time.Millisecond) // the transport's dials end
}

// TestCallerDeadline: attempts time out and are retried while the
// caller's context is fine; the loop stops at the caller's deadline with
// the caller's error.
func TestCallerDeadline(t *testing.T) {
	var dials atomic.Int32
	c, err := New(Config{Endpoint: "http://192.0.2.1/v2", Credentials: Credentials{Key: "EXOabc", Secret: secret.Value("s3cr3tvalue")},
		Timeout: 50 * time.Millisecond, MaxRetries: 100, RetryBaseDelay: time.Millisecond, RetryMaxDelay: time.Millisecond, Transport: hangingDial(&dials)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = c.ListKeys(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Fatalf("%v after %s", err, time.Since(start))
	}
	var e *Error
	if errors.As(err, &e) {
		t.Errorf("caller's deadline reported as an *Error: %v", err)
	}
	if n := dials.Load(); n < 2 {
		t.Errorf("%d attempts before the caller's deadline, want several", n)
	}
	t.Log(err, dials.Load())
	time.Sleep(300 * time.Millisecond) // the transport's dials end
}
