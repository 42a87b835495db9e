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
	if got := a.rate(); got != 25 {
		t.Fatalf("after a second push back a second later: %v, want 25", got)
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
