package rotation

import (
	"errors"
	"testing"
	"time"

	"github.com/rotatord/rotatord/state"
)

// As a rotation (TestCutPassStartsNoRotation), a recovery that a handler
// decides once its pass is cut (once's SIGINT, a lost Lease) is not
// started: under the cancelled context its probes and requests can only
// fail, and that failure counted as the rotation's (a failure on record,
// its backoff, on_failure owed again) though nothing was tried. The
// rotation stays as it was on record, for the next pass.
func TestCutPassStartsNoRecovery(t *testing.T) {
	h := newHarness(t, time.Hour)
	h.api.add("ci-runner", roleCI)
	h.sinkB.failWrite = errors.New("vault sealed") // sink a holds the new key, sink b not
	h.pass(Options{Force: true})
	h.sinkB.failWrite = nil
	before := h.record("ci-runner")
	if before.Rotation == nil || before.Rotation.Phase != state.PhaseCreated {
		t.Fatalf("after the failed delivery: rotation %+v, want it created", before.Rotation)
	}
	// A record the next pass rewrites before it acts (the first-seen
	// times noted again), where the journal below holds the handler.
	edited := before
	edited.FirstSeen = nil
	if err := h.store.Put(edited); err != nil {
		t.Fatal(err)
	}

	out := passCutAtFirstPut(t, h, "ci-runner", Options{IgnoreBackoff: true})

	r := h.record("ci-runner")
	if r.Failures != before.Failures || r.LastError != before.LastError {
		t.Errorf("after a pass cut before its recovery began: failures %d (%q), want %d (%q) as before",
			r.Failures, r.LastError, before.Failures, before.LastError)
	}
	if r.Rotation == nil || r.Rotation.Phase != state.PhaseCreated || r.Rotation.NewKeyID != before.Rotation.NewKeyID {
		t.Errorf("after a pass cut before its recovery began: rotation %+v, want it as it was (%+v)", r.Rotation, before.Rotation)
	}
	for _, o := range out {
		if o.Name == "ci-runner" && o.Decision.Action == ActionRecover && o.Err == nil {
			t.Errorf("outcome %+v: a recovery reported done after the pass was cut", o)
		}
	}
}
