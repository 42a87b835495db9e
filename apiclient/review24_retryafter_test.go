package apiclient

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient/exosim"
)

// TestRetryAfterOverTheLimitDoesNotHoldOtherRequests (from the second
// review of this round): a Retry-After longer than MaxRetryAfter makes the
// refused request give up ("a longer Retry-After gives up instead of
// sleeping"); the requests after it, which the same Retry-After holds,
// give up too instead of sleeping it out with their slots held.
func TestRetryAfterOverTheLimitDoesNotHoldOtherRequests(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MaxRetryAfter = 5 * time.Second })
	f.srv.SetFault(exosim.OpListAPIKeys, exosim.Fault{RateLimitNext: 1, RetryAfter: 3600})
	if _, err := f.client.ListKeys(context.Background()); err == nil {
		t.Fatal("a 429 with Retry-After 1h over MaxRetryAfter 5s: want an error")
	}
	_, err := f.client.ListRoles(context.Background())
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindRateLimited || e.Op != OpListRoles || e.RetryAfter <= 5*time.Second {
		t.Fatalf("the next request under a Retry-After of 1h: %v; want a rate-limited error of %s carrying the wait", err, OpListRoles)
	}
	for _, d := range f.sleeps.all() {
		if d > 5*time.Second {
			t.Errorf("a request slept %v, over MaxRetryAfter (5s)", d)
		}
	}
	if calls := f.srv.Calls()[exosim.OpListIAMRoles].Total; calls != 0 {
		t.Errorf("%d list-iam-roles calls went out under the Retry-After, want 0", calls)
	}
	// The slot came back: with the pause over, requests go out again.
	f.client.limiter.mu.Lock()
	f.client.limiter.pauseUntil = time.Time{}
	f.client.limiter.mu.Unlock()
	if _, err := f.client.ListRoles(context.Background()); err != nil {
		t.Fatalf("after the pause: %v", err)
	}
}
