package rotation

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rotatord/rotatord/hooks"
)

// Issue 14: on_failure runs when "a rotation failed". A stop (SIGTERM, a
// lost lead) during a long consumer check cancels the hook: that is not
// a failure of the deletion. It was recorded as one, so the name backed
// off and every name whose check was running at the stop fired its
// on_failure hooks (during the stop, and again after the restart), a
// page per name for an ordinary restart. The deletion is tried again at
// the next pass, with no failure on record.
func TestStopDuringConsumerCheckIsNoFailure(t *testing.T) {
	h := newHarness(t, time.Hour)
	old := h.api.add("ci-runner", "ci-role")
	var (
		mu        sync.Mutex
		failures  int
		started   = make(chan struct{}, 1)
		blockNext = true
	)
	check := func(ctx context.Context, ev hooks.Event) error {
		mu.Lock()
		block := blockNext
		mu.Unlock()
		if !block {
			return nil
		}
		started <- struct{}{}
		<-ctx.Done() // a consumer check that takes its time
		return ctx.Err()
	}
	onFailure := func(context.Context, hooks.Event) error {
		mu.Lock()
		failures++
		mu.Unlock()
		return nil
	}
	h.policy.Hooks = []Hook{
		{Event: hooks.BeforeDelete, Label: "exec#0", Run: check},
		{Event: hooks.OnFailure, Label: "exec#1", Run: onFailure},
	}
	h.newEngine()
	h.pass(Options{Force: true})
	h.clock.Add(2 * time.Hour)

	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-started
		cancel() // rotatord stops while the check runs
	}()
	h.engine.DeleteDue(ctx)
	h.engine.WaitHooks(10 * time.Second)
	if !slices.Contains(h.api.live("ci-runner"), old) {
		t.Fatal("the old key was deleted though its consumer check never finished")
	}
	r := h.record("ci-runner")
	if r.Failures != 0 || !r.FailureHookPending.IsZero() {
		t.Errorf("a stop during the consumer check is on record as a failure: failures %d, on_failure owed %v, error %q",
			r.Failures, !r.FailureHookPending.IsZero(), r.LastError)
	}
	mu.Lock()
	n := failures
	blockNext = false
	mu.Unlock()
	if n != 0 {
		t.Errorf("on_failure ran %d times for a stop", n)
	}
	// The next start tries the deletion again, without a failure's
	// backoff (one minute): once its own confirmation of the new key
	// (10 s) is old enough.
	h.newEngine()
	h.engine.DeleteDue(context.Background())
	h.clock.Add(15 * time.Second)
	h.engine.DeleteDue(context.Background())
	if slices.Contains(h.api.live("ci-runner"), old) {
		t.Error("the deletion interrupted by the stop was not carried out at the next start")
	}
}
