package rotation

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

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

	reached, released := make(chan struct{}), make(chan struct{})
	var j state.Journal = blockFirstPut{Journal: h.store, name: "ci-runner", once: &sync.Once{}, reached: reached, released: released}
	h.engine = New(Config{API: cutAPI{h.api}, Store: j, Logger: zap.NewNop(), Recorder: h.rec, Now: h.clock.Now, Sleep: h.clock.Sleep, OwnKeyID: h.own})
	if err := h.engine.SetPolicies([]Policy{h.policy}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan []Outcome, 1)
	go func() {
		out, _ := h.engine.Pass(ctx, nil, Options{IgnoreBackoff: true})
		done <- out
	}()
	select {
	case <-reached:
	case <-time.After(60 * time.Second):
		t.Fatal("the handler never wrote the name's record")
	}
	cancel() // the stop comes while the handler decides
	close(released)
	var out []Outcome
	select {
	case out = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("the pass did not return after the stop")
	}

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
