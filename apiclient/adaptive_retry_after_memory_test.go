package apiclient

import (
	"testing"
	"time"
)

// TestAdaptiveLimitForgetsAnOldRetryAfter: the slower probe is scaled by
// the Retry-After of the refusal that set the limit seen. A Retry-After
// answered once, an hour before, must not slow every later climb: a
// refusal without one (a 503) leaves the climb as fast as if no
// Retry-After had ever come.
func TestAdaptiveLimitForgetsAnOldRetryAfter(t *testing.T) {
	climb := func(earlier time.Duration) int {
		now := time.Unix(1000, 0)
		a := newAdaptiveLimit(50, 50, func() time.Time { return now })
		if earlier > 0 {
			a.pushedBack(earlier)
			for a.rate() < 50 { // long back at the ceiling
				now = now.Add(time.Second)
				a.succeeded()
			}
		}
		base := time.Unix(5000, 0)
		for i := range 40 {
			now = base.Add(time.Duration(i) * 20 * time.Millisecond)
			a.succeeded()
		}
		now = base.Add(900 * time.Millisecond)
		a.pushedBack(0) // a 503, no Retry-After
		n := 0
		for a.rate() < 40 && n < 1_000_000 {
			a.succeeded()
			n++
		}
		return n
	}
	fresh, after := climb(0), climb(2*time.Minute)
	if after > 2*fresh {
		t.Fatalf("answers to climb back to the allowed rate after a 503: %d, but %d when a Retry-After of 2m came an hour before; want the same", fresh, after)
	}
}
