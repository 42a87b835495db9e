package rotation

import (
	"slices"
	"testing"
	"time"

	"github.com/rotatord/rotatord/hooks"
)

// Issue #14: a failing before_delete hook "is tried again after the
// failure's backoff" (README, Hooks) in a scheduled pass as in the deleter
// (DeleteDue): passes a few seconds apart must not rerun the consumer
// check (and on_failure with it) at each pass, and once the backoff is
// over the next pass tries it again.
func TestBeforeDeleteFailureBacksOffInPasses(t *testing.T) {
	h := newHarness(t, time.Hour)
	old := h.api.add("ci-runner", "ci-role")
	l := &hookLog{fail: true}
	withHooks(h, l)
	h.pass(Options{Force: true})
	h.clock.Add(2 * time.Hour)
	h.pass(Options{}) // the grace period is over: the hook runs and fails
	first := len(l.events(hooks.BeforeDelete))
	if first != 1 {
		t.Fatalf("before_delete ran %d times at the first pass after the grace period, want 1", first)
	}
	if r := h.record("ci-runner"); r.Failures == 0 {
		t.Fatalf("the failure is not on record: %+v", r)
	}
	// Passes 10 s apart, well inside the one-minute backoff.
	for i := 0; i < 5; i++ {
		h.clock.Add(10 * time.Second)
		h.pass(Options{})
	}
	if n := len(l.events(hooks.BeforeDelete)); n != first {
		t.Errorf("before_delete ran %d more times within the failure's backoff (passes 10 s apart), want 0", n-first)
	}
	if !slices.Contains(h.api.live("ci-runner"), old) {
		t.Fatal("the old key was deleted though the hook failed")
	}
	// Once the backoff is over, the next pass tries the hook again.
	h.clock.Add(time.Minute)
	h.pass(Options{})
	if n := len(l.events(hooks.BeforeDelete)); n != first+1 {
		t.Errorf("before_delete ran %d times after the backoff, want 1", n-first)
	}
}
