package rotation

import (
	"slices"
	"testing"
	"time"

	"github.com/rotatord/rotatord/hooks"
)

// Issue #14: a failing before_delete hook "retries with backoff", and the
// README says it "is tried again after the failure's backoff". The
// deleter (DeleteDue) honours the backoff, but a scheduled pass (Pass,
// ActionDelete) runs the hook again at every pass, however soon: with a
// pass every few seconds the consumer check (and on_failure with it) runs
// every few seconds.
func TestAudit3BeforeDeleteFailureBacksOffInPasses(t *testing.T) {
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
}
