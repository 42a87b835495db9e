package rotation

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/rotatord/rotatord/state"
)

// outcomeNamed is the outcome of name among out.
func outcomeNamed(t *testing.T, out []Outcome, name string) Outcome {
	t.Helper()
	for _, o := range out {
		if o.Name == name {
			return o
		}
	}
	t.Fatalf("no outcome of %s in %+v", name, out)
	return Outcome{}
}

// A pass cut by something other than a stop (once's SIGINT, a replica
// that lost the Lease: its context cancelled, Config.Stopping not set)
// does not start the rotation or the recovery a handler decided as the
// cut came (TestCutPassStartsNoRotation, TestCutPassStartsNoRecovery).
// The outcome must say so, not that "rotatord is stopping" and that "the
// next start" rotates the name: nothing stops, and the next pass (the
// next once, or the new leader's) does it.
func TestCutPassOutcomeDoesNotSayStopping(t *testing.T) {
	t.Run("rotation", func(t *testing.T) {
		h := newHarness(t, time.Hour)
		h.api.add("ci-runner", roleCI)
		o := outcomeNamed(t, passCutAtFirstPut(t, h, "ci-runner", Options{Force: true}), "ci-runner")
		if o.Decision.Reason == ReasonStopping || o.Decision.Reason == "" {
			t.Errorf("outcome of a rotation not started, its pass cut (no stop): reason %q (error %v)", o.Decision.Reason, o.Err)
		}
	})
	t.Run("recovery", func(t *testing.T) {
		h := newHarness(t, time.Hour)
		h.api.add("ci-runner", roleCI)
		h.sinkB.failWrite = errors.New("vault sealed") // a rotation left created
		h.pass(Options{Force: true})
		h.sinkB.failWrite = nil
		before := h.record("ci-runner")
		if before.Rotation == nil || before.Rotation.Phase != state.PhaseCreated {
			t.Fatalf("after the failed delivery: rotation %+v, want it created", before.Rotation)
		}
		// A record the next pass rewrites before it acts, where the
		// journal holds the handler (as in TestCutPassStartsNoRecovery).
		edited := before
		edited.FirstSeen = nil
		if err := h.store.Put(edited); err != nil {
			t.Fatal(err)
		}
		o := outcomeNamed(t, passCutAtFirstPut(t, h, "ci-runner", Options{IgnoreBackoff: true}), "ci-runner")
		if o.Decision.Reason == ReasonStopping || o.Decision.Reason == "" {
			t.Errorf("outcome of a recovery not started, its pass cut (no stop): reason %q (error %v)", o.Decision.Reason, o.Err)
		}
	})
	// A stop (SIGTERM: Config.Stopping) still says it is stopping.
	t.Run("stop", func(t *testing.T) {
		h := newHarness(t, time.Hour)
		h.api.add("ci-runner", roleCI)
		h.engine = New(Config{API: h.api, Store: h.store, Logger: zap.NewNop(), Recorder: h.rec, Now: h.clock.Now, Sleep: h.clock.Sleep, OwnKeyID: h.own,
			Stopping: func() bool { return true }})
		if err := h.engine.SetPolicies([]Policy{h.policy}); err != nil {
			t.Fatal(err)
		}
		out, err := h.engine.Pass(context.Background(), nil, Options{Force: true})
		if err != nil {
			t.Fatal(err)
		}
		if o := outcomeNamed(t, out, "ci-runner"); o.Decision.Reason != ReasonStopping {
			t.Errorf("outcome of a rotation a stop did not start: reason %q, want %q", o.Decision.Reason, ReasonStopping)
		}
	})
}

// The names a cut pass never handed to a handler (Pass stops dispatching
// once its context is cut) were not even looked at. Their outcome must
// still say what the pass did with them, as those of the names cut while
// their handler decided do: no action (an empty one prints as "" in once's
// table, and as "none" in -o json), and a reason that the pass was cut,
// not "rotatord is stopping" (no stop here), not nothing.
func TestCutPassOutcomeOfANameNeverHandled(t *testing.T) {
	h := newHarness(t, time.Hour)
	h.api.add("ci-runner", roleCI)
	h.api.add("ci-yy", roleCI)
	h.api.add("ci-zz", roleCI)
	// One name at a time: ci-yy, dispatched before the cut, waits for
	// ci-runner's handler, which the cut comes during; ci-zz comes after.
	o := outcomeNamed(t, passCutAtFirstPutConcurrency(t, h, "ci-runner", Options{Force: true}, 1), "ci-zz")
	if o.Err == nil {
		t.Fatalf("ci-zz was handled though the pass was cut before: %+v", o)
	}
	if o.Decision.Action != ActionNone || o.Decision.Reason == "" || o.Decision.Reason == ReasonStopping {
		t.Errorf("outcome of a name its cut pass never handled: action %q reason %q (error %v), want action %q and a reason saying the pass was cut", o.Decision.Action, o.Decision.Reason, o.Err, ActionNone)
	}
}
