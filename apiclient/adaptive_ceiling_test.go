package apiclient

import (
	"testing"
	"time"
)

// TestAdaptiveLimitKeepsACeilingBelowTheFloor: rate_limit may be any
// rate above 0, 0.2 (a request every 5 s) too. A push back never raises
// the rate: the floor a push back falls to must not lift it above the
// ceiling the operator set.
func TestAdaptiveLimitKeepsACeilingBelowTheFloor(t *testing.T) {
	now := time.Unix(1000, 0)
	a := newAdaptiveLimit(0.2, 1, func() time.Time { return now })
	for i := range 5 {
		now = now.Add(2 * time.Second)
		a.pushedBack(time.Duration(i) * time.Second)
		if r := a.rate(); r > 0.2 {
			t.Fatalf("after a push back the rate is %v requests a second, above rate_limit 0.2", r)
		}
		now = now.Add(5 * time.Second)
		a.succeeded()
		if r := a.rate(); r > 0.2 {
			t.Fatalf("after a push back and an answer the rate is %v requests a second, above rate_limit 0.2", r)
		}
	}
	if r := float64(a.lim.Limit()); r > 0.2 {
		t.Fatalf("the limiter lets %v requests a second through, above rate_limit 0.2", r)
	}
}
