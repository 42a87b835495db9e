package apiclient

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient/exosim"
)

// TestInterruptEndsARetryAfterWaitUnsent: a reload waits for the handlers
// in flight, and a handler whose request waited out a server's
// Retry-After (up to MaxRetryAfter, before each of up to 5 attempts) held
// a SIGHUP that long (real binary, Retry-After 120 on every create: no
// reload after minutes). A wait before a request goes out ends when the
// context's interrupt channel (WithInterrupt) closes: the request gives up
// unsent with the refusal it had, and nothing more reaches the server.
// Unfixed, the wait never ends (the test times out).
func TestInterruptEndsARetryAfterWaitUnsent(t *testing.T) {
	for _, op := range []string{"retry", "pause"} {
		f := newFixture(t)
		interrupt := make(chan struct{})
		f.client.sleep = func(ctx context.Context, d time.Duration) error {
			select {
			case <-interrupt:
			default:
				close(interrupt) // a reload begins while the request waits
			}
			<-ctx.Done() // only something that ends the wait ends it
			return ctx.Err()
		}
		f.srv.SetFault(exosim.OpListAPIKeys, exosim.Fault{RateLimitRate: 1, RetryAfter: 60})
		ctx := WithInterrupt(context.Background(), interrupt)
		if op == "pause" {
			// Another request's refusal set the pause this one waits for.
			f.client.limiter.pushedBack(time.Minute)
			f.srv.SetFault(exosim.OpListIAMRoles, exosim.Fault{})
			_, err := f.client.ListRoles(ctx)
			if !errors.Is(err, ErrRateLimited) {
				t.Errorf("%s: %v, want rate limited (unsent)", op, err)
			}
			if calls := f.srv.Calls()[exosim.OpListIAMRoles].Total; calls != 0 {
				t.Errorf("%s: %d calls reached the server, want 0", op, calls)
			}
			continue
		}
		_, err := f.client.ListKeys(ctx)
		if !errors.Is(err, ErrRateLimited) {
			t.Errorf("%s: %v, want the refusal it had", op, err)
		}
		if calls := f.srv.Calls()[exosim.OpListAPIKeys].Total; calls != 1 {
			t.Errorf("%s: %d calls reached the server, want 1", op, calls)
		}
	}
}
