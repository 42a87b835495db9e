package apiclient

import (
	"testing"
	"time"
)

// A server that refuses 1% of requests whatever the load (each with
// Retry-After: 1): every refusal to a request that filled the window
// halved it, and a forced pass over 200 names against exosim with 20 ms
// of latency took 22 s instead of 4, in the end one request at a time.
// Such refusals are still waited out (Retry-After) and still lower the
// rate, which cannot tell them from a server's rate limit (that too earns
// about one refusal a pause: TestServerRateLimitBringsTheRateDown), but
// the window keeps its size: a server that serves fewer at once refuses
// far more of the requests.
func TestRandomRefusalsDoNotShrinkTheWindow(t *testing.T) {
	now := time.Unix(1000, 0)
	f := newInFlight(4, func() time.Time { return now })
	// 150 answers a second for 30 s, one in a hundred refused, each
	// refusal followed by its second of silence.
	for i := 0; i < 30*150; i++ {
		now = now.Add(time.Second / 150)
		if i%100 == 99 {
			f.pushedBack(true)
			now = now.Add(time.Second)
			continue
		}
		f.succeeded()
	}
	if w := f.allowed(); w != 4 {
		t.Errorf("window %d after refusals of 1%% of answers, want 4", w)
	}
}

// A refusal soon after a Retry-After pause: what the server let through
// is counted over the part of the last second that was not paused. Over
// the whole second, the pause's silence read as a limit of 18 a second.
func TestAdaptiveLimitMeasuresOutsideThePause(t *testing.T) {
	now := time.Unix(1000, 0)
	a := newAdaptiveLimit(1000, 1000, func() time.Time { return now })
	for range 100 {
		now = now.Add(10 * time.Millisecond)
		a.succeeded()
	}
	// A refusal among few answers: the rate goes down, and a pause of
	// 800 ms begins.
	for range 10 {
		a.pushedBack(800 * time.Millisecond)
	}
	first := a.rate()
	if first >= 1000 {
		t.Fatalf("rate %v after 10 refusals among 110 answers, want less than 1000", first)
	}
	// After the pause, 20 answers in 200 ms (100 a second), then
	// refusals again, more than a second after the first decrease.
	now = now.Add(800 * time.Millisecond)
	for range 20 {
		now = now.Add(10 * time.Millisecond)
		a.succeeded()
	}
	now = now.Add(10 * time.Millisecond)
	for range 10 {
		a.pushedBack(time.Second)
	}
	// Counted over the 250 ms the measure allows at the least: 80 a
	// second, and 90% of it. Over the whole second (20 answers): 18.
	if r := a.rate(); r < 60 {
		t.Errorf("rate %v after 20 answers in the 210 ms since the pause, want about 72 (counted outside the pause)", r)
	}
}
