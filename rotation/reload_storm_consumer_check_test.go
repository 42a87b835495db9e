package rotation

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/rotatord/rotatord/hooks"
)

// Reloads of an unchanged policy file that come more often than a
// consumer check (before_delete) takes (a configuration tool that sends
// SIGHUP every few minutes, a check with retries that takes longer) must
// not keep the old key alive for good: a reload during the check that
// leaves the name's policy as it was does not end the deletion. Each
// reload ended it, the next round ran the check again, the next reload
// ended it again: the old key was never deleted, and the check ran over
// and over.
func TestReloadsOfAnUnchangedPolicyDuringTheConsumerCheckDoNotHoldTheOldKeyForever(t *testing.T) {
	h := newHarness(t, time.Hour)
	old := h.api.add("ci-a", "ci-role")
	runs := 0
	check := func(ctx context.Context, ev hooks.Event) error {
		runs++
		// A reload of the same policy file lands during every check.
		if err := h.engine.SetPolicies([]Policy{h.policy}); err != nil {
			t.Errorf("reload: %v", err)
		}
		return nil
	}
	h.policy.Hooks = []Hook{{Event: hooks.BeforeDelete, Label: "exec#0", Run: check}}
	h.policy.Fingerprint = "v1"
	h.newEngine()
	h.pass(Options{Force: true})
	h.clock.Add(2 * time.Hour) // the grace period is over
	for range 5 {
		h.engine.DeleteDue(context.Background())
		if !slices.Contains(h.api.live("ci-a"), old) {
			break
		}
	}
	if slices.Contains(h.api.live("ci-a"), old) {
		t.Fatalf("old key %s alive after %d consumer checks that passed, each outlived by a reload of the same policies", old, runs)
	}

	// A reload that changes the policy (another fingerprint) still ends
	// the deletion: the check runs again under the new policy.
	old = h.record("ci-a").CurrentKeyID
	changed := h.policy
	changed.Fingerprint = "v2"
	runs = 0
	h.policy.Hooks = []Hook{{Event: hooks.BeforeDelete, Label: "exec#0", Run: func(ctx context.Context, ev hooks.Event) error {
		runs++
		if runs == 1 {
			if err := h.engine.SetPolicies([]Policy{changed}); err != nil {
				t.Errorf("reload: %v", err)
			}
		}
		return nil
	}}}
	changed.Hooks = h.policy.Hooks
	if err := h.engine.SetPolicies([]Policy{h.policy}); err != nil {
		t.Fatal(err)
	}
	h.pass(Options{Force: true})
	h.clock.Add(2 * time.Hour)
	out := h.engine.DeleteDue(context.Background())
	if len(out) != 1 || out[0].Decision.Reason != ReasonReloaded || !slices.Contains(h.api.live("ci-a"), old) {
		t.Fatalf("a reload that changed the policy during its consumer check: %+v, old key alive %v; want the name left to the next round", out, slices.Contains(h.api.live("ci-a"), old))
	}
}
