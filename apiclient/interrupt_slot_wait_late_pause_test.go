package apiclient

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient/exosim"
)

// TestInterruptEndsASlotWaitWhenTheRetryAfterComesAfterIt: a reload
// interrupts a handler's request waiting for a place among the requests
// in flight while no Retry-After is in force yet (the places free up as
// answers come). The answer that comes then is a 429 with a Retry-After,
// and the place goes to a request queued earlier that no reload
// interrupts (a pass's listing), which holds it through that Retry-After:
// the interrupted request waited for it all the same (up to
// MaxRetryAfter), and the reload with it, since the interrupt was looked
// at only once, as it closed.
func TestInterruptEndsASlotWaitWhenTheRetryAfterComesAfterIt(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Concurrency = 1 })
	pausing, resume := gateSleep(f)
	// A request in flight holds the only place.
	if _, err := f.client.inFlight.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	listed := make(chan error, 1)
	go func() {
		_, err := f.client.ListKeys(context.Background()) // not interrupted
		listed <- err
	}()
	slotWaiters(f, 1)
	interrupt, got := interruptibleRequest(f)
	slotWaiters(f, 2)
	close(interrupt) // a reload begins; no Retry-After in force yet
	// Not a measure: unfixed, the interrupted request looks at the pause
	// as the interrupt closes, and this lets it do so before the 429.
	time.Sleep(50 * time.Millisecond)
	// The request in flight is answered 429 with a Retry-After, and its
	// place goes to the listing, which waits the Retry-After out.
	f.client.limiter.pushedBack(time.Minute)
	f.client.inFlight.release()
	<-pausing
	ended := false
	select {
	case err := <-got:
		ended = true
		if !errors.Is(err, ErrRateLimited) {
			t.Errorf("interrupted while waiting for a place: %v, want rate limited, unsent", err)
		}
	case <-time.After(time.Minute): // a watchdog, not a measure
		t.Errorf("the interrupted request still waits for the place held through the Retry-After that came after the interrupt")
	}
	close(resume)
	if err := <-listed; err != nil {
		t.Errorf("the listing: %v", err)
	}
	if !ended {
		<-got
	}
	if calls := f.srv.Calls()[exosim.OpListIAMRoles].Total; ended && calls != 0 {
		t.Errorf("%d calls of the interrupted request reached the server, want 0", calls)
	}
}
