package apiclient

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient/exosim"
)

// TestARefusalDuringAPauseKeepsTheRequestsWaitingItUnsent: a request
// waiting out a Retry-After in force looked at the refusal to send (a
// Retry-After beyond MaxRetryAfter) before its wait only. One answered
// meanwhile (another request's retry) made every request fail unsent for
// MaxRetryAfter, yet the one waiting went out as its wait ended, and a
// create among them reached a server that had asked for no request
// until then.
func TestARefusalDuringAPauseKeepsTheRequestsWaitingItUnsent(t *testing.T) {
	f := newFixture(t)
	f.client.limiter.pushedBack(30 * time.Second) // the API asked to wait
	waits := 0
	f.client.sleep = func(ctx context.Context, d time.Duration) error {
		waits++
		if waits == 1 {
			// Meanwhile another request's retry is answered with a
			// Retry-After beyond MaxRetryAfter.
			f.client.limiter.pushedBack(f.client.cfg.MaxRetryAfter)
			f.client.limiter.refuseFor(f.client.cfg.MaxRetryAfter)
		}
		return ctx.Err()
	}
	_, err := f.client.CreateKey(context.Background(), "ci-runner", exosim.DefaultSeed().Roles[0].ID)
	if !errors.Is(err, ErrRateLimited) {
		t.Errorf("create: %v, want rate limited, unsent", err)
	}
	if calls := f.srv.Calls()[exosim.OpCreateAPIKey].Total; calls != 0 {
		t.Errorf("%d creates reached the server during the refusal, want 0", calls)
	}
}

// TestARetryAfterExtendedDuringAPauseIsWaitedOut: a request waiting out
// a Retry-After that another answer extends meanwhile waits for the end
// of the longer one, as every request does.
func TestARetryAfterExtendedDuringAPauseIsWaitedOut(t *testing.T) {
	f := newFixture(t)
	f.client.limiter.pushedBack(10 * time.Second)
	var waited []time.Duration
	f.client.sleep = func(ctx context.Context, d time.Duration) error {
		waited = append(waited, d)
		if len(waited) == 1 {
			f.client.limiter.pushedBack(time.Minute) // another request's 429
		}
		return ctx.Err()
	}
	if _, err := f.client.ListRoles(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(waited) != 2 || waited[1] <= 50*time.Second {
		t.Errorf("waits %v, want the first Retry-After's, then what is left of the one that extended it (about a minute)", waited)
	}
}
