package rotation

// A listing is documented as entries of {"key","name","role-id"}, but every
// field of the API's schema is optional. With no grace period the old keys
// go at once, checked against the pass's own listing, not looked up again:
// an entry that left the old key's role out read as a key of another role,
// the deletion was refused and the rotation cleared, and with an API whose
// listings never show the role the old key lived on for good (in no sink,
// on no record).

import (
	"context"
	"slices"
	"testing"
	"time"
)

func TestOldKeyListedWithoutItsRoleIsStillDeletedWithNoGracePeriod(t *testing.T) {
	h := newHarness(t, 0)
	old := h.api.add("ci-runner", roleCI)
	h.pass(Options{})
	h.useAPI(&roleless{fakeAPI: h.api, blank: map[string]bool{old: true}})
	h.engine.Pass(context.Background(), []string{"ci"}, Options{Force: true})
	for range 3 {
		h.clock.Add(3 * time.Minute)
		h.engine.DeleteDue(context.Background(), Options{IgnoreBackoff: true})
		h.engine.Pass(context.Background(), []string{"ci"}, Options{IgnoreBackoff: true})
	}
	held := h.sinkA.holds("ci-runner")
	if held == "" || held == old {
		t.Fatalf("the sink holds %q: no rotation away from %s", held, old)
	}
	if live := h.api.live("ci-runner"); len(live) != 1 || live[0] != held {
		r := h.record("ci-runner")
		t.Errorf("live keys %v, want only the key the sinks hold (%s): old key %s lives on (rotation %+v, deleted %v, last error %q)",
			live, held, old, r.Rotation, r.Deleted, r.LastError)
	}
}

// The GET that replaces such an entry still checks the role: a key of the
// name but of another role, listed without it, is another credential and
// stays.
func TestKeyOfAnotherRoleListedWithoutItsRoleIsNotDeleted(t *testing.T) {
	h := newHarness(t, 0)
	h.api.add("ci-runner", roleCI)
	h.pass(Options{})
	other := h.api.add("ci-runner", roleOther)
	h.useAPI(&roleless{fakeAPI: h.api, blank: map[string]bool{other: true}})
	h.engine.Pass(context.Background(), []string{"ci"}, Options{Force: true})
	for range 3 {
		h.clock.Add(3 * time.Minute)
		h.engine.DeleteDue(context.Background(), Options{IgnoreBackoff: true})
		h.engine.Pass(context.Background(), []string{"ci"}, Options{IgnoreBackoff: true})
	}
	if !slices.Contains(h.api.live("ci-runner"), other) {
		t.Errorf("key %s of role %s, listed without its role, was deleted by a policy of role %s", other, roleOther, roleCI)
	}
}
