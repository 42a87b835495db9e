package apiclient

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient/exosim"
)

// TestRetryAfterBeyondTheLimitFailsTheOthersUnsent: a server that answers
// every request 429 with a Retry-After longer than MaxRetryAfter (31
// years) made each later request of a pass wait MaxRetryAfter with its
// slot held, go out, earn the same answer and hold the next one as long:
// a pass of N requests took N times MaxRetryAfter (measured with the real
// binary: 10 key names, 2 minutes per request, 7 creates in 5 minutes).
// The server asked for longer than the client ever waits: until
// MaxRetryAfter has passed, the other requests fail at once, unsent, as
// rate limited, and the pass ends.
func TestRetryAfterBeyondTheLimitFailsTheOthersUnsent(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MaxRetryAfter = 5 * time.Second })
	now := time.Unix(1_000_000, 0)
	f.client.limiter.now = func() time.Time { return now }
	f.srv.SetFault(exosim.OpListAPIKeys, exosim.Fault{RateLimitRate: 1, RetryAfter: 999999999})
	ctx := context.Background()
	for i := range 10 {
		_, err := f.client.ListKeys(ctx)
		if !errors.Is(err, ErrRateLimited) {
			t.Fatalf("request %d: %v, want rate limited", i, err)
		}
	}
	var slept time.Duration
	for _, d := range f.sleeps.all() {
		slept += d
	}
	if slept > 5*time.Second {
		t.Errorf("10 requests against a server asking for 31 years slept %s in all, over MaxRetryAfter (5s)", slept)
	}
	if calls := f.srv.Calls()[exosim.OpListAPIKeys].Total; calls != 1 {
		t.Errorf("%d list-api-keys calls reached the server, want 1 (the others fail unsent)", calls)
	}

	// Once MaxRetryAfter has passed, requests go out again.
	now = now.Add(5*time.Second + time.Millisecond)
	f.srv.SetFault(exosim.OpListAPIKeys, exosim.Fault{})
	if _, err := f.client.ListKeys(ctx); err != nil {
		t.Fatalf("after MaxRetryAfter: %v", err)
	}
}
