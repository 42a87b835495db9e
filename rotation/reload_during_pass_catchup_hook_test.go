package rotation

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/rotatord/rotatord/hooks"
	"github.com/rotatord/rotatord/state"
)

// A pass that finds a deletion due first gives a sink a reload added
// during the grace period the new key (catchUp), and runs the
// after_delivery hooks for it: they may hang up to their timeout. A
// reload must not wait for them (every other name's work would stand
// still meanwhile), and once they end the pass leaves the old key to the
// next round, which decides under the policies in force.
func TestReloadDoesNotWaitForACatchUpsAfterDeliveryHookAPassRuns(t *testing.T) {
	h, _, old := ciRunnerRotatedUnderHooksInItsGracePeriod(t)
	hh := newHungHook(t)
	sinkC := memSinkHoldingTheOldKey("c", old)
	h.api.sinks = append(h.api.sinks, sinkC)
	h.policy.Sinks = append(h.policy.Sinks, sinkC)
	h.policy.Hooks = []Hook{{Event: hooks.AfterDelivery, Label: "exec#0", Run: hh.run}}
	if err := h.engine.SetPolicies([]Policy{h.policy}); err != nil {
		t.Fatal(err)
	}
	h.clock.Add(2 * time.Hour) // the grace period is over

	passed := passInBackground(h.engine, nil, Options{})
	<-hh.started
	reloadWithin(t, h.engine, []Policy{h.policy}, hh, passed, "the after_delivery hook of a pass's catch-up")

	hh.release()
	for _, o := range <-passed {
		if o.Name == "ci-runner" && (o.Err != nil || o.Decision.Reason != ReasonReloaded) {
			t.Errorf("ci-runner: %+v, want it left to the next round (%s)", o, ReasonReloaded)
		}
	}
	cur := h.current("ci-runner")
	if !slices.Contains(h.api.live("ci-runner"), old) {
		t.Fatalf("old key %s deleted by a pass that a reload outlived", old)
	}
	rec := h.record("ci-runner")
	if rec.Rotation == nil || rec.Rotation.Phase != state.PhaseDelivered || rec.Failures != 0 || sinkC.holds("ci-runner") != cur {
		t.Fatalf("after the reload: rotation %+v, %d failures, sink c holds %q; want it delivered, sink c caught up with %s, no failure",
			rec.Rotation, rec.Failures, sinkC.holds("ci-runner"), cur)
	}
	h.engine.DeleteDue(context.Background())
	if slices.Contains(h.api.live("ci-runner"), old) {
		t.Errorf("old key %s still alive after the deleter's round", old)
	}
}
