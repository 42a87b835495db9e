package rotation

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/rotatord/rotatord/hooks"
	"github.com/rotatord/rotatord/state"
)

// A consumer check (before_delete) that a pass runs, rather than the
// deleter (grace_period 0: the pass deletes right after the delivery; or
// a pass that finds a deletion due), may hang for its whole timeout (up to
// 30 minutes). A reload (SIGHUP) waited for it, as it once did for the
// deleter's: while it waited, every other handler skipped its name
// (ReasonReloaded), so every other policy's work stood still behind one
// hung check. The reload now goes through at once; the check's result is
// dropped (it was decided under the policies the reload replaced) and the
// old key stays for the deleter, which runs the check again under the
// policies in force.
func TestReloadDoesNotWaitForAConsumerCheckAPassRuns(t *testing.T) {
	for _, tc := range []struct {
		name  string
		grace time.Duration
		setup func(h *harness) Options // the pass whose check hangs
		// The action the pass reports for the name: a rotation whose
		// deletion a reload left to the deleter was still a rotation
		// (the "pass done" line counts it, once shows it rotated).
		action Action
	}{
		{"grace period 0: the rotating pass deletes", 0, func(h *harness) Options {
			return Options{Force: true}
		}, ActionRotate},
		{"grace period 0: the pass recovering an interrupted rotation deletes", 0, func(h *harness) Options {
			h.sinkB.failWrite = errors.New("vault sealed") // sink a holds the new key, sink b not
			h.pass(Options{Force: true})
			h.sinkB.failWrite = nil
			return Options{IgnoreBackoff: true}
		}, ActionRecover},
		{"a pass that finds the deletion due", time.Hour, func(h *harness) Options {
			h.pass(Options{Force: true})
			h.clock.Add(2 * time.Hour) // the grace period is over
			return Options{}
		}, ActionNone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.grace)
			old := h.api.add("ci-a", "ci-role")
			hh := newHungHook(t) // a consumer check that answers late
			h.policy.Hooks = []Hook{{Event: hooks.BeforeDelete, Label: "exec#0", Run: hh.run}}
			h.newEngine()
			opts := tc.setup(h)

			out := passOverAReload(t, h, hh, opts, "a consumer check a pass runs")
			// The reason stays the reload's: the scheduler runs a pass
			// that a reload cut short again once the reload is over.
			i := slices.IndexFunc(out, func(o Outcome) bool { return o.Name == "ci-a" })
			if i < 0 || out[i].Decision.Action != tc.action || out[i].Decision.Reason != ReasonReloaded {
				t.Errorf("the pass's outcomes: %+v, want ci-a's action %q, reason %q", out, tc.action, ReasonReloaded)
			}
			if !slices.Contains(h.api.live("ci-a"), old) {
				t.Fatalf("old key %s deleted on a consumer check decided under the policies a reload replaced", old)
			}
			rec := h.record("ci-a")
			if rec.Rotation == nil || rec.Rotation.Phase != state.PhaseDelivered {
				t.Fatalf("after the reload: rotation %+v, want it delivered, its old keys still owed", rec.Rotation)
			}
			h.engine.DeleteDue(context.Background())
			if slices.Contains(h.api.live("ci-a"), old) {
				t.Errorf("old key %s still alive after the deleter's round, its consumer check passing", old)
			}
		})
	}
}
