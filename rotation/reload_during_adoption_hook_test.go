package rotation

import (
	"sync"
	"testing"
	"time"

	"github.com/rotatord/rotatord/hooks"
	"github.com/rotatord/rotatord/secret"
	"github.com/rotatord/rotatord/sinks"
)

// An adoption from the sinks that writes a sink owes the after_delivery
// hooks, which the pass runs at once, without the install lock. A reload
// while they run ends the handler early (ReasonReloaded): the adoption is
// recorded, and its deletion must be scheduled as the handler would have
// (the deleter's timer, OnDeletionScheduled), or the old key waits for
// the deleter's check interval instead of the grace period's end.
func TestReloadDuringAnAdoptionsAfterDeliveryHookStillSchedulesItsDeletion(t *testing.T) {
	h := newHarness(t, time.Hour)
	older := h.api.add("ci-runner", roleCI)
	newer := h.api.add("ci-runner", roleCI)
	h.sinkA.held["ci-runner"] = sinks.Credential{Name: "ci-runner", KeyID: newer, RoleID: roleCI, Secret: secret.Value("secret-of-the-newer-key")}
	h.sinkB.held["ci-runner"] = sinks.Credential{Name: "ci-runner", KeyID: older, RoleID: roleCI, Secret: secret.Value("secret-of-the-older-key")}
	hh := newHungHook(t)
	h.policy.Hooks = []Hook{{Event: hooks.AfterDelivery, Label: "exec#0", Run: hh.run}}
	h.newEngine()
	var mu sync.Mutex
	var scheduled []time.Time
	h.engine.onDeletionScheduled = func(at time.Time) {
		mu.Lock()
		scheduled = append(scheduled, at)
		mu.Unlock()
	}

	passOverAReload(t, h, hh, Options{}, "an adoption's after_delivery hook")

	rec := h.record("ci-runner")
	if rec.Rotation == nil || rec.CurrentKeyID != newer {
		t.Fatalf("test premise: the adoption of %s is recorded: current %s, rotation %+v", newer, rec.CurrentKeyID, rec.Rotation)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, at := range scheduled {
		if at.Equal(rec.Rotation.DeleteAfter) {
			return
		}
	}
	t.Errorf("deletions scheduled %v: none for the adoption's old keys, due %v", scheduled, rec.Rotation.DeleteAfter)
}
