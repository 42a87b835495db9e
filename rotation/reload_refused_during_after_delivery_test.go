package rotation

import (
	"context"
	"slices"
	"testing"

	"github.com/rotatord/rotatord/hooks"
)

// A pass runs the after_delivery hooks without the install lock, so a
// reload may begin, and end, while they run. One refused (its check
// failed: nothing was installed) lets the handler go on under the
// policies it had, and with a grace period of 0 delete the old keys at
// once. That reload is over when the deletion's requests go out: their
// retries (a 503, a Retry-After) must wait and go out, not give up at
// once as if a reload were starting (as for the deleter's consumer
// check: outsideInstall).
func TestAReloadRefusedDuringAPassAfterDeliveryHookDoesNotInterruptTheDeletionsRetries(t *testing.T) {
	h := newHarness(t, 0)
	old := h.api.add("ci-a", "ci-role")
	h.policy.Hooks = []Hook{{Event: hooks.AfterDelivery, Label: "exec#0", Run: func(ctx context.Context, ev hooks.Event) error {
		// A reload that its check refuses: locked, then let go.
		h.engine.LockInstall()()
		return nil
	}}}
	api := &retryingDeleteAPI{fakeAPI: h.api}
	h.engine = New(Config{API: api, Store: h.store, Logger: h.engine.log, Recorder: h.rec, Now: h.clock.Now, Sleep: h.clock.Sleep, OwnKeyID: h.own})
	if err := h.engine.SetPolicies([]Policy{h.policy}); err != nil {
		t.Fatal(err)
	}
	out := h.pass(Options{Force: true})
	noFailures(t, out)
	if slices.Contains(h.api.live("ci-a"), old) {
		t.Fatalf("old key %s alive after a rotation with a grace period of 0 whose after_delivery hook outlived a refused reload: %+v", old, out)
	}
	if r := h.record("ci-a"); r.Failures != 0 {
		t.Errorf("ci-a: %d failures (%s), want none", r.Failures, r.LastError)
	}
}
