package apiclient

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient/exosim"
)

// TestAttemptTimeout: Config.Timeout bounds each attempt, not the call:
// a read the API holds past it is retried, and fails once the retries are
// spent, while the caller's own context has no deadline; a create held
// past it is ambiguous and not retried.
func TestAttemptTimeout(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Timeout = 100 * time.Millisecond; c.MaxRetries = 1 })
	f.srv.SetFault(exosim.OpGetAPIKey, exosim.Fault{Latency: 5 * time.Second})
	_, err := f.client.GetKey(context.Background(), "EXO0000000000000000000000")
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindUnavailable || e.Attempts != 2 || !strings.Contains(e.Error(), "deadline exceeded") {
		t.Fatalf("a get held past the timeout: %v (%+v), want an unavailable API after 2 attempts, deadline exceeded", err, e)
	}

	f.srv.SetFault(exosim.OpCreateAPIKey, exosim.Fault{Latency: 5 * time.Second})
	_, err = f.client.CreateKey(context.Background(), "ci-slow", exosim.CIRoleID)
	if !errors.Is(err, ErrAmbiguousCreate) {
		t.Fatalf("a create held past the timeout: %v, want ErrAmbiguousCreate", err)
	}
	if n := len(f.srv.Requests(exosim.RequestFilter{Ops: []string{exosim.OpCreateAPIKey}}).Requests); n != 1 {
		t.Errorf("create sent %d times, want once", n)
	}
}

// TestNoGoroutinePerRequest: while a request waits on the API, net/http
// runs no goroutine of its own for the request's timeout. With
// http.Client.Timeout and a RoundTripper net/http does not know (the
// client's observes and fences), it would start one per request
// (setRequestCancel), and waking it at every answer costs a thread
// switch between the answer and the next request.
func TestNoGoroutinePerRequest(t *testing.T) {
	f := newFixture(t)
	f.srv.SetFault(exosim.OpListAPIKeys, exosim.Fault{Latency: time.Second})
	done := make(chan error, 1)
	go func() {
		_, err := f.client.ListKeys(context.Background())
		done <- err
	}()
	// Logged at its arrival, answered a second later.
	for len(f.srv.Requests(exosim.RequestFilter{Ops: []string{exosim.OpListAPIKeys}}).Requests) == 0 {
		time.Sleep(time.Millisecond)
	}
	buf := make([]byte, 1<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stacks, "net/http.setRequestCancel") {
		t.Errorf("a goroutine of net/http's setRequestCancel waits with the request:\n%s", stacks)
	}
	if !strings.Contains(stacks, "net/http.(*persistConn).roundTrip") {
		t.Fatalf("the stacks show no request in flight; the check above saw nothing:\n%s", stacks)
	}
}
