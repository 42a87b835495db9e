package apiclient

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient/exosim"
)

// TestRetryAfterOverTheLimitHoldsOthersAtMostTheLimit (from the second
// and third reviews of this round): a Retry-After longer than
// MaxRetryAfter makes the refused request give up ("a longer Retry-After
// gives up instead of sleeping"); the requests after it give up unsent
// for MaxRetryAfter and then go out, instead of sleeping the whole
// Retry-After with their slots held. A server that asks for 31 years does
// not stop the client for the rest of its life.
func TestRetryAfterOverTheLimitHoldsOthersAtMostTheLimit(t *testing.T) {
	for _, retryAfter := range []int{3600, 999999999} {
		f := newFixture(t, func(c *Config) { c.MaxRetryAfter = 5 * time.Second })
		now := time.Unix(1_000_000, 0)
		f.client.limiter.now = func() time.Time { return now }
		f.srv.SetFault(exosim.OpListAPIKeys, exosim.Fault{RateLimitNext: 1, RetryAfter: retryAfter})
		if _, err := f.client.ListKeys(context.Background()); err == nil {
			t.Fatalf("Retry-After %ds over MaxRetryAfter 5s: want the refused request to give up", retryAfter)
		}
		if left := f.client.limiter.pauseLeft(); left > 5*time.Second {
			t.Errorf("Retry-After %ds: the other requests are held %s, over MaxRetryAfter (5s)", retryAfter, left)
		}
		// Until MaxRetryAfter has passed, the others give up unsent
		// (TestRetryAfterBeyondTheLimitFailsTheOthersUnsent); then they
		// go out.
		if _, err := f.client.ListRoles(context.Background()); !errors.Is(err, ErrRateLimited) {
			t.Fatalf("Retry-After %ds: the next request within MaxRetryAfter: %v, want rate limited, unsent", retryAfter, err)
		}
		now = now.Add(5*time.Second + time.Millisecond)
		if _, err := f.client.ListRoles(context.Background()); err != nil {
			t.Fatalf("Retry-After %ds: the next request after MaxRetryAfter: %v", retryAfter, err)
		}
		for _, d := range f.sleeps.all() {
			if d > 5*time.Second {
				t.Errorf("Retry-After %ds: a request slept %v, over MaxRetryAfter (5s)", retryAfter, d)
			}
		}
		if calls := f.srv.Calls()[exosim.OpListIAMRoles].Total; calls != 1 {
			t.Errorf("Retry-After %ds: %d list-iam-roles calls reached the server, want 1", retryAfter, calls)
		}
	}
}
