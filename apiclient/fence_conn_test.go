package apiclient

import (
	"context"
	"errors"
	"net/http/httptrace"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient/exosim"
)

// A replica paused after the last check before a request (SIGSTOP, a
// frozen VM) and woken once another replica leads must not send it: the
// connection's write asks the gate again. Here the Lease is lost at the
// moment the request gets its connection, after every check above the
// socket has passed.
func TestAGateLostAfterTheChecksStopsTheRequestAtTheSocket(t *testing.T) {
	lost := errors.New("this replica does not hold the Lease")
	var gone atomic.Bool
	gate := func() (time.Time, error) {
		if gone.Load() {
			return time.Time{}, lost
		}
		return time.Now().Add(time.Minute), nil
	}
	f := newFixture(t, func(c *Config) {
		c.Transport = nil // the default transport, whose connections are fenced
		c.Gate = gate
	})
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) { gone.Store(true) },
	})
	_, err := f.client.CreateKey(ctx, "ci-paused", exosim.CIRoleID)
	if err == nil {
		t.Fatal("the create succeeded after the Lease was lost")
	}
	// It stays classified as ambiguous: net/http reports the request
	// written once it is in the connection's buffer, before the refused
	// flush, and a create is ambiguous unless known unsent. The intent in
	// the journal settles it either way.
	if n := f.srv.Calls()[exosim.OpCreateAPIKey].Total; n != 0 {
		t.Errorf("the simulator received %d creates after the Lease was lost", n)
	}
	if keys := f.liveNamed("ci-paused"); len(keys) != 0 {
		t.Errorf("%d keys created after the Lease was lost", len(keys))
	}
	// The gate back: the next create goes (the refused connection is not
	// left in the pool half-written).
	ctx = httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{})
	gone.Store(false)
	if _, err := f.client.CreateKey(ctx, "ci-paused", exosim.CIRoleID); err != nil {
		t.Fatalf("a create with the Lease held again: %v", err)
	}
}
