package rotation

import (
	"context"
	"testing"
	"time"

	"github.com/rotatord/rotatord/hooks"
)

// The deleter goes on after a reload during its consumer check
// (before_delete) that left the policy as the file had it (the same
// Fingerprint). Such a reload may still have changed the credential (the
// credential file, not the policy file): another organization's, whose
// listings do not show the journal's keys. The deleter checked the
// credential's organization before its hooks (organizationBeforeDeleting)
// and re-checks that it is still in force after its pending
// after_delivery hook, but not after the consumer check: it went on
// under the unchecked credential, asked the other organization for the
// rotation's new key, recorded a failure (on_failure hooks owed) and
// noted the new key missing, the first step of taking it as vanished and
// forgetting the old keys. It must leave the name to the next round,
// which checks the credential now in force.
func TestAReloadOfTheCredentialDuringTheDeletersConsumerCheckDoesNotGoOnUnchecked(t *testing.T) {
	h := newHarness(t, time.Hour)
	h.policy.Fingerprint = "ci policy as the file has it"
	other := newFakeAPI(t)
	other.n = 1 << 40 // key ids are unique across organizations
	otherOwn := other.add("rotatord-admin", "99999999-9999-9999-9999-999999999999")
	other.add("ci-runner", "88888888-8888-8888-8888-888888888888")
	reload := false
	h.policy.Hooks = []Hook{{Event: hooks.BeforeDelete, Label: "exec#0", Run: func(ctx context.Context, ev hooks.Event) error {
		if reload {
			// Only the credential changes: the policy is as it was.
			reload = false
			unlock := h.engine.LockInstall()
			h.engine.CommitLocked(ctx, Install{Policies: []Policy{h.policy}, API: other, OwnKeyID: otherOwn})
			unlock()
		}
		return nil
	}}}
	h.newEngine()
	old := h.api.add("ci-runner", roleCI)
	h.pass(Options{Force: true})
	before := h.record("ci-runner")
	h.clock.Add(2 * time.Hour) // the grace period is over
	reload = true
	out := h.engine.DeleteDue(context.Background(), Options{IgnoreBackoff: true})
	if reload {
		t.Fatal("the deleter did not run the consumer check")
	}
	if len(out) != 1 || out[0].Err != nil || out[0].Decision.Reason != ReasonReloaded {
		t.Errorf("outcomes %+v, want ci-runner left to the next round (%s)", out, ReasonReloaded)
	}
	if other.gets > 0 {
		t.Errorf("the deleter asked another organization's API, put in place by a reload during its consumer check and not checked, for the journal's keys (%d GETs)", other.gets)
	}
	after := h.record("ci-runner")
	if after.Failures != 0 || after.LastError != "" {
		t.Errorf("a failure recorded for a reload during the consumer check: %d, %q", after.Failures, after.LastError)
	}
	if after.CurrentKeyID != before.CurrentKeyID || after.Rotation == nil || after.Rotation.NewKeyID != before.Rotation.NewKeyID ||
		!after.Rotation.NewMissingSince.IsZero() {
		t.Errorf("the deleter went on with another organization's credential a reload put in place during its consumer check:\nbefore current %q rotation %+v\nafter  current %q rotation %+v",
			before.CurrentKeyID, before.Rotation, after.CurrentKeyID, after.Rotation)
	}
	if live := h.api.live("ci-runner"); len(live) != 2 {
		t.Errorf("ci-runner's keys %v, want the new one and the old one %s", live, old)
	}
}
