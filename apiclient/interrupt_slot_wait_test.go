package apiclient

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestInterruptEndsAWaitForASlotHeldThroughARetryAfter: a request that
// waits out a Retry-After holds its place among the requests in flight,
// and a request of a reloading handler queued behind it (the window
// shrunk to one by the API's push backs; the one holding it a pass's
// listing, which no reload interrupts) waited for that place: the reload
// waited the Retry-After out after all (up to MaxRetryAfter). With a
// Retry-After in force, an interrupt ends that wait too, unsent.
func TestInterruptEndsAWaitForASlotHeldThroughARetryAfter(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Concurrency = 1 })
	pausing, resume := gateSleep(f)
	f.client.limiter.pushedBack(time.Minute) // the API asked to wait
	listed := make(chan error, 1)
	go func() {
		_, err := f.client.ListKeys(context.Background()) // not interrupted
		listed <- err
	}()
	<-pausing // it holds the only place, waiting out the Retry-After
	interrupt, got := interruptibleRequest(f)
	slotWaiters(f, 1)
	close(interrupt) // a reload begins
	ended := false
	select {
	case err := <-got:
		ended = true
		if !errors.Is(err, ErrRateLimited) {
			t.Errorf("interrupted while waiting for a place: %v, want rate limited, unsent", err)
		}
	case <-time.After(time.Minute): // a watchdog, not a measure: unfixed, it waits for the listing
		t.Errorf("the interrupted request still waits for the place the Retry-After's wait holds")
	}
	close(resume)
	if err := <-listed; err != nil {
		t.Errorf("the listing: %v", err)
	}
	if !ended {
		<-got
	}
}

// gateSleep makes the client's waits (a Retry-After, a backoff) block
// until resume is closed, or their context ends; pausing is closed when
// the first begins.
func gateSleep(f *fixture) (pausing, resume chan struct{}) {
	pausing, resume = make(chan struct{}), make(chan struct{})
	f.client.sleep = func(ctx context.Context, d time.Duration) error {
		close(pausing)
		select {
		case <-resume:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return pausing, resume
}

// interruptibleRequest starts a request (a roles listing) of a handler a
// reload interrupts by closing interrupt; got has its error.
func interruptibleRequest(f *fixture) (interrupt chan struct{}, got chan error) {
	interrupt, got = make(chan struct{}), make(chan error, 1)
	go func() {
		_, err := f.client.ListRoles(WithInterrupt(context.Background(), interrupt))
		got <- err
	}()
	return interrupt, got
}

// slotWaiters returns once n requests wait for a place among the
// requests in flight.
func slotWaiters(f *fixture, n int) {
	for {
		f.client.inFlight.mu.Lock()
		got := len(f.client.inFlight.waiters)
		f.client.inFlight.mu.Unlock()
		if got == n {
			return
		}
		time.Sleep(time.Millisecond)
	}
}
