package apiclient

import (
	"testing"
	"time"
)

func TestAdaptiveLimitHalvesOncePerSecondAndRecovers(t *testing.T) {
	now := time.Unix(1000, 0)
	a := newAdaptiveLimit(100, 4, func() time.Time { return now })
	if got := a.rate(); got != 100 {
		t.Fatalf("start %v, want the ceiling 100", got)
	}
	// A burst of refusals within a second counts once.
	for range 5 {
		a.pushedBack(0)
	}
	if got := a.rate(); got != 50 {
		t.Fatalf("after a burst of 429s: %v, want 50", got)
	}
	now = now.Add(1100 * time.Millisecond)
	a.pushedBack(0)
	// Now it has measured: six refusals and nothing let through in the
	// last second. The cut is bounded to an eighth.
	if got := a.rate(); got != 50.0/8 {
		t.Fatalf("after a second push back a second later: %v, want %v", got, 50.0/8)
	}
	// Never below the floor.
	for range 20 {
		now = now.Add(2 * time.Second)
		a.pushedBack(0)
	}
	if got := a.rate(); got != floorRate {
		t.Fatalf("after many push backs: %v, want the floor %v", got, floorRate)
	}
	// Additive recovery, capped at the ceiling.
	for range 100 {
		a.succeeded()
	}
	if got, want := a.rate(), floorRate+100*recoverStep; got < want-1e-9 || got > want+1e-9 {
		t.Fatalf("after 100 successes: %v, want %v", got, want)
	}
	for range 10000 {
		a.succeeded()
	}
	if got := a.rate(); got != 100 {
		t.Fatalf("after many successes: %v, want the ceiling", got)
	}
}

func TestAdaptiveLimitHoldsEveryRequestForRetryAfter(t *testing.T) {
	now := time.Unix(1000, 0)
	a := newAdaptiveLimit(100, 4, func() time.Time { return now })
	a.pushedBack(3 * time.Second)
	if got := a.pauseLeft(); got != 3*time.Second {
		t.Fatalf("pause %v, want the Retry-After 3s", got)
	}
	now = now.Add(3 * time.Second)
	if got := a.pauseLeft(); got > 0 {
		t.Fatalf("pause %v after the Retry-After passed", got)
	}
}

// TestAdaptiveLimitDropsToWhatTheServerAllowed: a server that lets 40
// requests a second through and refuses the rest sets the rate just under
// 40, not a blind half, and the climb back near it is slow.
func TestAdaptiveLimitDropsToWhatTheServerAllowed(t *testing.T) {
	now := time.Unix(1000, 0)
	a := newAdaptiveLimit(200, 4, func() time.Time { return now })
	// One second: 40 answers, then refusals.
	for i := range 40 {
		now = time.Unix(1000, int64(i)*20_000_000) // 20ms apart
		a.succeeded()
	}
	now = time.Unix(1000, 900_000_000)
	a.pushedBack(time.Second)
	for range 10 {
		a.pushedBack(time.Second) // the same burst: counted once
	}
	if got, want := a.rate(), headroom*40.0; got < want-1e-6 || got > want+1e-6 {
		t.Fatalf("after the refusals: rate %v, want %v (just under the 40/s let through)", got, want)
	}
	// Near the limit seen: 1% of it a second. 36 answers (one second at
	// the rate) add about 0.4/s, where the fast climb would add 3.6.
	r0 := a.rate()
	for range 36 {
		a.succeeded()
	}
	if got := a.rate() - r0; got < 0.3 || got > 0.5 {
		t.Fatalf("a second near the limit added %v/s, want about 0.4", got)
	}
	// Without enough answers to measure (a server refusing everything):
	// half.
	b := newAdaptiveLimit(1000, 4, func() time.Time { return now })
	b.pushedBack(0)
	if got := b.rate(); got != 500 {
		t.Fatalf("a refusal with nothing measured: %v, want 500", got)
	}
	// A push back never raises the rate: 100 answers measured at a rate
	// of 20 leave it at 20.
	c := newAdaptiveLimit(20, 4, func() time.Time { return now })
	for range 100 {
		c.succeeded()
	}
	now = now.Add(10 * time.Millisecond)
	c.pushedBack(0)
	if got := c.rate(); got > 20 {
		t.Fatalf("a push back raised the rate to %v", got)
	}
}

func TestWindowCountsTheLastSecond(t *testing.T) {
	var w window
	at := func(ms int64) time.Time { return time.Unix(0, ms*1_000_000) }
	for i := range 10 {
		w.add(at(int64(i) * 100)) // 10 in second 0
	}
	if got := w.count(at(999)); got != 10 {
		t.Fatalf("count in the same second = %v, want 10", got)
	}
	if got := w.count(at(1500)); got != 5 {
		t.Fatalf("count half a second later = %v, want 5 (half of the previous second)", got)
	}
	if got := w.count(at(3000)); got != 0 {
		t.Fatalf("count two seconds later = %v, want 0", got)
	}
}

// TestAdaptiveLimitPauseFillsNoBurst: below the ceiling the bucket holds a
// tenth of a second's requests, so a long Retry-After pause does not let
// the held requests leave at once when it ends (they would empty the
// server's bucket and earn the next refusal). At the ceiling again, the
// configured bucket is back.
func TestAdaptiveLimitPauseFillsNoBurst(t *testing.T) {
	now := time.Unix(1000, 0)
	a := newAdaptiveLimit(1000, 1000, func() time.Time { return now })
	for i := range 40 {
		now = time.Unix(1000, int64(i)*20_000_000)
		a.succeeded()
	}
	now = time.Unix(1000, 900_000_000)
	a.pushedBack(5 * time.Second)
	r := a.rate() // just under the 40 let through
	if r >= 1000 {
		t.Fatalf("rate %v after a push back", r)
	}
	// The limiter runs on the real clock: look past the pause there.
	after := time.Now().Add(5 * time.Second)
	if got, most := a.lim.TokensAt(after), r/10; got > most {
		t.Fatalf("%.0f requests may leave at once after a 5s pause at %.0f/s; want at most %.1f", got, r, most)
	}
	for range 100000 {
		a.succeeded()
	}
	if a.rate() != 1000 || a.lim.Burst() != 1000 {
		t.Fatalf("back at the ceiling: rate %v burst %d, want 1000 and 1000", a.rate(), a.lim.Burst())
	}
}

// TestAdaptiveLimitProbesSlowerWhenARefusalCostsMore: above the rate the
// server last allowed, the climb is divided by the Retry-After in seconds,
// so that each probe's pause stays a small share of the time.
func TestAdaptiveLimitProbesSlowerWhenARefusalCostsMore(t *testing.T) {
	climb := func(retryAfter time.Duration) int {
		now := time.Unix(1000, 0)
		a := newAdaptiveLimit(50, 50, func() time.Time { return now })
		for i := range 40 {
			now = time.Unix(1000, int64(i)*20_000_000)
			a.succeeded()
		}
		now = time.Unix(1000, 900_000_000)
		a.pushedBack(retryAfter)
		if r := a.rate(); r != headroom*40 {
			t.Fatalf("rate %v after the server let 40 through, want %v", r, headroom*40)
		}
		n := 0
		for a.rate() < 40 {
			a.succeeded()
			n++
		}
		return n
	}
	one, four := climb(time.Second), climb(4*time.Second)
	if four < 3*one {
		t.Fatalf("answers to climb back to the allowed rate: %d with Retry-After 1s, %d with 4s; want about four times as many", one, four)
	}
}
