package rotation

import (
	"errors"
	"testing"

	"github.com/rotatord/rotatord/state"
)

// A pass's recovery that waits before it delivered anything (here: the
// API does not show the new key yet, ReasonNewKeySettle) is no recovery
// done: the outcome is ActionNone with the wait's reason and due. The
// daemon arms its follow-up pass at that due only for ActionNone
// outcomes (daemon/run.go, followUp); only a wait after the delivery
// (the deletion of the old keys, grace_period 0) keeps the action.
func TestRecoveryWaitingBeforeDeliveryReportsNoAction(t *testing.T) {
	h := newHarness(t, 0)
	h.api.add("ci-runner", roleCI)
	h.sinkB.failWrite = errors.New("vault sealed") // sink a holds the new key, sink b not
	h.pass(Options{Force: true})
	h.sinkB.failWrite = nil
	rot := h.record("ci-runner").Rotation
	if rot == nil || rot.Phase != state.PhaseCreated || rot.NewKeyID == "" {
		t.Fatalf("after the failed delivery: rotation %+v, want it created", rot)
	}
	h.api.hide(rot.NewKeyID, 1000) // a GET and a listing lag

	o := findOutcome(h.pass(Options{IgnoreBackoff: true}), "ci-runner")
	if o.Err != nil || o.Decision.Action != ActionNone || o.Decision.Reason != ReasonNewKeySettle || o.Decision.Due.IsZero() {
		t.Errorf("the recovery's outcome: %+v, want action none, reason %q with its due", o, ReasonNewKeySettle)
	}
	if got := h.sinkB.holds("ci-runner"); got == rot.NewKeyID {
		t.Errorf("sink b got new key %s while the API did not show it", got)
	}
	if r := h.record("ci-runner"); r.Rotation == nil || r.Rotation.Phase != state.PhaseCreated {
		t.Errorf("after the wait: rotation %+v, want it still created", r.Rotation)
	}
}
