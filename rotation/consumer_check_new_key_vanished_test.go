package rotation

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/rotatord/rotatord/hooks"
)

// A consumer check (before_delete) may run for up to 30 minutes. The new
// key was confirmed before it started; if it vanishes while the check runs
// (deleted by hand, or by the consumer's own tooling) and the check passes
// anyway (it tested a cached client, or lies), deleting the old keys then
// leaves the name with no live key while its sinks hold a dead one: an
// outage. The old keys stay until the new key is seen again, as when it
// vanishes during the grace period. Both the deleter and a pass, and a
// rotation with grace_period 0.
func TestNewKeyVanishingDuringTheConsumerCheckKeepsTheOldKey(t *testing.T) {
	for _, c := range []struct {
		name  string
		grace time.Duration
		// deleteStep runs the deletion once the grace period is over.
		deleteStep func(h *harness)
	}{
		{"deleter", time.Hour, func(h *harness) { h.engine.DeleteDue(context.Background()) }},
		{"pass", time.Hour, func(h *harness) { h.pass(Options{}) }},
		{"grace period 0", 0, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			h, old, checks := rotationWhoseNewKeyVanishes(t, c.grace, hooks.BeforeDelete)
			if c.deleteStep != nil {
				h.clock.now = h.clock.now.Add(2 * time.Hour)
				c.deleteStep(h)
			}
			if *checks != 1 {
				t.Fatalf("the consumer check ran %d times, want once", *checks)
			}
			if !slices.Contains(h.api.live("ci-runner"), old) {
				t.Fatalf("the old key %s was deleted after the new key vanished during the consumer check: ci-runner has no live key (live: %v)", old, h.api.live("ci-runner"))
			}
			// Once the API's settle time and the failure's backoff are
			// over, the vanished key is given up and the name rotates
			// again: its sinks hold a live key.
			h.policy.Hooks = nil
			h.newEngine()
			for range 3 {
				h.clock.now = h.clock.now.Add(2 * time.Hour)
				h.pass(Options{})
			}
			held, err := h.sinkA.Read(context.Background(), "ci-runner")
			if err != nil || !slices.Contains(h.api.live("ci-runner"), held.KeyID) {
				t.Fatalf("sink a holds %v (err %v), not a live key of ci-runner (live: %v)", held.KeyID, err, h.api.live("ci-runner"))
			}
		})
	}
}

// The same with the after_delivery hook a sink added during the grace
// period gets before the old keys go (it may run as long): the new key
// deleted while it ran, the old key stays.
func TestNewKeyVanishingDuringTheCatchUpAfterDeliveryHookKeepsTheOldKey(t *testing.T) {
	h := newHarness(t, time.Hour)
	old := h.api.add("ci-runner", roleCI)
	l := &hookLog{}
	h.policy.Hooks = []Hook{{Event: hooks.AfterDelivery, Label: "exec#0", Run: func(ctx context.Context, ev hooks.Event) error {
		if len(ev.Sinks) == 3 { // sink c's catch-up
			h.api.mu.Lock()
			delete(h.api.keys, ev.NewKeyID)
			h.api.mu.Unlock()
		}
		return l.run(ctx, ev)
	}}}
	h.newEngine()
	h.pass(Options{Force: true})
	sinkC := memSinkHoldingTheOldKey("c", old)
	h.api.sinks = append(h.api.sinks, sinkC)
	h.policy.Sinks = append(h.policy.Sinks, sinkC)
	if err := h.engine.SetPolicies([]Policy{h.policy}); err != nil {
		t.Fatal(err)
	}
	h.clock.Add(2 * time.Hour)
	h.engine.DeleteDue(context.Background(), Options{IgnoreBackoff: true})
	if n := len(l.events(hooks.AfterDelivery)); n != 2 {
		t.Fatalf("test premise: after_delivery ran %d times, want 2 (the rotation, sink c's catch-up)", n)
	}
	if !slices.Contains(h.api.live("ci-runner"), old) {
		t.Fatalf("the old key %s was deleted after the new key vanished during sink c's after_delivery hook: ci-runner has no live key (live: %v)", old, h.api.live("ci-runner"))
	}
}

// With grace_period 0 the old keys go right after the rotation's own
// after_delivery hooks, which may run as long: the new key deleted while
// they ran, the old key stays.
func TestNewKeyVanishingDuringTheAfterDeliveryHookOfAGraceZeroRotationKeepsTheOldKey(t *testing.T) {
	h, old, ran := rotationWhoseNewKeyVanishes(t, 0, hooks.AfterDelivery)
	if *ran != 1 {
		t.Fatalf("test premise: after_delivery ran %d times, want once", *ran)
	}
	if !slices.Contains(h.api.live("ci-runner"), old) {
		t.Fatalf("the old key %s was deleted after the new key vanished during the after_delivery hook: ci-runner has no live key (live: %v)", old, h.api.live("ci-runner"))
	}
}

// rotationWhoseNewKeyVanishes makes a harness with grace period grace and
// one key of ci-runner (old), gives the policy a hook on event that
// deletes the rotation's new key while it runs (as someone might) and
// succeeds all the same, and forces a rotation. *ran counts the hook's
// runs.
func rotationWhoseNewKeyVanishes(t *testing.T, grace time.Duration, event string) (h *harness, old string, ran *int) {
	t.Helper()
	h = newHarness(t, grace)
	old = h.api.add("ci-runner", roleCI)
	ran = new(int)
	h.policy.Hooks = []Hook{{Event: event, Label: "exec#0", Run: func(ctx context.Context, ev hooks.Event) error {
		*ran++
		h.api.mu.Lock()
		delete(h.api.keys, ev.NewKeyID)
		h.api.mu.Unlock()
		return nil
	}}}
	h.newEngine()
	h.pass(Options{Force: true})
	return h, old, ran
}
