package apiclient

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient/exosim"
)

// reserveAhead blocks until a request waits in the rate limiter for a
// token: its reservation keeps the bucket below zero until it is due (2 s
// at the tests' rate: the request, started as the token before went,
// reaches the limiter well within that).
func reserveAhead(t *testing.T, c *Client) {
	t.Helper()
	deadline := time.Now().Add(time.Minute) // a watchdog, not a measure
	for c.limiter.lim.Tokens() >= 0 {
		if time.Now().After(deadline) {
			t.Fatal("no request came to wait for a token")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestARefusalDuringTheRateWaitKeepsTheRequestUnsent: a request looked
// at the refusal to send (a Retry-After beyond MaxRetryAfter) before it
// waited for the rate's token only. Below the ceiling, after a pause,
// the requests the pause held wait in turn for tokens; the first one out
// is answered with a Retry-After beyond MaxRetryAfter, and every request
// fails unsent, but those already waiting for a token went out when it
// came, a create among them.
func TestARefusalDuringTheRateWaitKeepsTheRequestUnsent(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.RateLimit, c.Burst = 0.5, 1 })
	f.client.limiter.lim.Allow() // the token went to the request before
	got := make(chan error, 1)
	go func() {
		_, err := f.client.CreateKey(context.Background(), "ci-runner", exosim.DefaultSeed().Roles[0].ID)
		got <- err
	}()
	reserveAhead(t, f.client)
	// The request before is answered: wait longer than MaxRetryAfter.
	f.client.limiter.pushedBack(f.client.cfg.MaxRetryAfter)
	f.client.limiter.refuseFor(f.client.cfg.MaxRetryAfter)
	if err := <-got; !errors.Is(err, ErrRateLimited) {
		t.Errorf("create: %v, want rate limited, unsent", err)
	}
	if calls := f.srv.Calls()[exosim.OpCreateAPIKey].Total; calls != 0 {
		t.Errorf("%d creates reached the server during the refusal, want 0", calls)
	}
}

// TestARetryAfterDuringTheRateWaitIsWaitedOut: a Retry-After that comes
// into force while a request waits for the rate's token holds it too: it
// went out as the token came, into the pause, and earned its own 429.
func TestARetryAfterDuringTheRateWaitIsWaitedOut(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.RateLimit, c.Burst = 0.5, 1 })
	f.client.limiter.lim.Allow()
	got := make(chan error, 1)
	go func() {
		_, err := f.client.ListRoles(context.Background())
		got <- err
	}()
	reserveAhead(t, f.client)
	f.client.limiter.pushedBack(time.Minute) // the request before: 429
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if waits := f.sleeps.all(); len(waits) != 1 || waits[0] <= 50*time.Second {
		t.Errorf("waits %v, want the Retry-After that came into force during the rate wait (about a minute)", waits)
	}
}
