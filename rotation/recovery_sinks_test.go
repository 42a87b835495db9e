package rotation

import (
	"context"
	"errors"
	"github.com/rotatord/rotatord/sinks"
	"github.com/rotatord/rotatord/state"
	"testing"
	"time"
)

// An upgrade renames the sink ids (review15b): every sink is still in the
// policy and proves by reading back that it does not hold the new key
// (the first sink's write failed, the rollback's delete failed). Before
// 5ad9a83 the recovery rolled the key back; now unrendered() sees the old
// ids and the rotation fails on every pass, forever, asking to "put the
// sink back in the policy file" - which is there already.
func TestUpgradeRenameNoSinkHoldsStuckForever(t *testing.T) {
	h := newHarness(t, 0)
	old := h.api.add("ci-runner", roleCI)
	h.sinkA.failWrite = errors.New("disk full")
	h.api.deleteErr = errors.New("API down")
	h.pass(Options{Force: true})
	r := h.record("ci-runner")
	if r.Rotation == nil || r.Rotation.NewKeyID == "" {
		t.Fatalf("want a created rotation, got %+v", r.Rotation)
	}
	newID := r.Rotation.NewKeyID
	if h.sinkA.holds("ci-runner") == newID || h.sinkB.holds("ci-runner") == newID {
		t.Fatal("a sink holds the new key")
	}
	// Upgrade: same sinks, renamed.
	h.sinkA.label, h.sinkB.label = "a@https://10.96.0.1:443", "b@https://10.96.0.1:443"
	h.sinkA.failWrite, h.api.deleteErr = nil, nil
	for i := 0; i < 5; i++ {
		h.clock.Add(Backoff(i + 1))
		h.newEngine()
		out := h.pass(Options{IgnoreBackoff: true})
		o := findOutcome(out, "ci-runner")
		t.Logf("pass %d: %v action=%v err=%v", i, o.KeyIDs, o.Decision.Action, o.Err)
	}
	r = h.record("ci-runner")
	live := h.api.live("ci-runner")
	t.Logf("old=%s new=%s live=%v rotation=%+v lastErr=%q", old, newID, live, r.Rotation != nil, r.LastError)
	if r.Rotation != nil {
		t.Errorf("rotation still in flight after 5 passes with every sink in the policy proving it does not hold the new key: %s", r.LastError)
	}
}

// nameFailSink fails writes for one key name only.
type nameFailSink struct {
	*memSink
	failFor string
}

func (s *nameFailSink) Write(ctx context.Context, c sinks.Credential) error {
	if c.Name == s.failFor {
		return errors.New("quota exceeded")
	}
	return s.memSink.Write(ctx, c)
}

// A recovery resumes a delivery and writes a sink added since the intent
// (recordSinks in deliverAndConfirm) without claimTargets: the added
// sink's target for ci-a is ci-a.docker's delivered env file.
func TestRecoveryWritesAnotherNamesTargetWithoutClaim(t *testing.T) {
	h := newHarness(t, 0)
	env, docker, _ := clashingFileSinks(t)
	flaky := &nameFailSink{memSink: h.sinkA}
	h.policy.Sinks = []sinks.Sink{env, flaky}
	h.newEngine()
	h.api.add("ci-a", roleCI)
	h.api.add("ci-a.docker", roleCI)
	h.pass(Options{Force: true})
	yKey := h.current("ci-a.docker")
	if got, err := env.Read(context.Background(), "ci-a.docker"); err != nil || got.KeyID != yKey {
		t.Fatalf("ci-a.docker's env file: %v %v", got.KeyID, err)
	}
	// ci-a's next rotation: env written, the mem sink fails for ci-a.
	flaky.failFor = "ci-a"
	h.clock.Add(25 * time.Hour)
	h.pass(Options{})
	if r := h.record("ci-a"); r.Rotation == nil || r.Rotation.Phase != state.PhaseCreated {
		t.Fatalf("ci-a: want a created rotation, got %+v", r.Rotation)
	}
	// Reload: the docker sink is added (nothing dropped).
	flaky.failFor = ""
	h.policy.Sinks = []sinks.Sink{env, flaky, docker}
	if err := h.engine.SetPolicies([]Policy{h.policy}); err != nil {
		t.Fatal(err)
	}
	h.clock.Add(Backoff(1))
	out := h.pass(Options{IgnoreBackoff: true})
	t.Logf("ci-a: %v; ci-a.docker: %v", findOutcome(out, "ci-a").Err, findOutcome(out, "ci-a.docker").Err)
	t.Logf("ci-a current %s live %v; ci-a.docker current %s live %v", h.current("ci-a"), h.api.live("ci-a"), h.current("ci-a.docker"), h.api.live("ci-a.docker"))
	if got, err := env.Read(context.Background(), "ci-a.docker"); err != nil || got.KeyID != h.current("ci-a.docker") {
		t.Errorf("ci-a.docker's env file holds %s (err %v), want ci-a.docker's key %s: ci-a's recovery wrote its key there", got.KeyID, err, h.current("ci-a.docker"))
	}
}
