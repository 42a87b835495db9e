package rotation

import (
	"testing"
	"time"
)

// TestSinkCheckPlanShowsALossWaitingForAWindow: a dry run (rotatord plan)
// of a name whose sinks a check found emptied, waiting for the policy's
// window, says so: the name rotates when the window opens, not at max_age.
func TestSinkCheckPlanShowsALossWaitingForAWindow(t *testing.T) {
	h, key := sinkCheckHarness(t)
	h.policy.Windows = weekdays09to16()
	h.policy.MaxAge = 30 * 24 * time.Hour
	h.engine.SetPolicies([]Policy{h.policy})
	h.clock.now = time.Date(2026, 12, 14, 8, 0, 0, 0, time.UTC) // a Monday, before the window
	h.sinkA.empty("ci-runner")
	h.sinkB.empty("ci-runner")
	h.pass(Options{})
	if live := h.api.live("ci-runner"); len(live) != 1 || live[0] != key {
		t.Fatalf("setup: live keys %v: rotated outside the window", live)
	}

	h.clock.now = time.Date(2026, 12, 14, 8, 30, 0, 0, time.UTC)
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
