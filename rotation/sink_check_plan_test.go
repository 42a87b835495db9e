package rotation

import (
	"testing"
	"time"
)

// TestSinkCheckPlanShowsALossWaitingForAWindow: a dry run (rotatord plan)
// of a name whose sinks a check found emptied, waiting for the policy's
// window, says so: the name rotates when the window opens, not at max_age.
func TestSinkCheckPlanShowsALossWaitingForAWindow(t *testing.T) {
	h, _ := lossBeforeTheWindow(t)

	h.clock.now = time.Date(2026, 12, 14, 8, 50, 0, 0, time.UTC)
	o := findOutcome(h.pass(Options{DryRun: true}), "ci-runner")
	open := time.Date(2026, 12, 14, 9, 0, 0, 0, time.UTC)
	if o.Decision.Reason != ReasonOutsideWindow || !o.Decision.Due.Equal(open) {
		t.Errorf("plan says %q, due %s; want %q, due %s (the loss found, waiting for the window)",
			o.Decision.Reason, o.Decision.Due, ReasonOutsideWindow, open)
	}
	h.clock.now = time.Date(2026, 12, 14, 9, 30, 0, 0, time.UTC)
	o = findOutcome(h.pass(Options{DryRun: true}), "ci-runner")
	if o.Decision.Action != ActionRotate || o.Decision.Reason != ReasonSinkLost {
		t.Errorf("plan in the window says %v %q, want a rotation for the lost sinks", o.Decision.Action, o.Decision.Reason)
	}
}
