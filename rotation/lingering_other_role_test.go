package rotation

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rotatord/rotatord/state"
)

// The deletion of a key rotatord deleted that the API still lists
// (deleteLingering) checked only the key's name: a record edited to say a
// key of another role under the name was deleted had that key deleted,
// although the policy (match.role_id) does not match it. rotatord deletes
// only keys of the record's name and role.
func TestALingeringDeletionLeavesAKeyThePolicyDoesNotMatchAlone(t *testing.T) {
	h := newHarness(t, 0)
	h.policy.Match = func(name, role string) bool { return strings.HasPrefix(name, "ci-") && role == roleCI }
	if err := h.engine.SetPolicies([]Policy{h.policy}); err != nil {
		t.Fatal(err)
	}
	h.api.add("ci-runner", roleCI)
	other := h.api.add("ci-runner", "other-role")
	h.pass(Options{})
	rec := h.record("ci-runner")
	rec.Deleted = state.KeyTimesOf(map[string]time.Time{other: h.clock.Now().Add(-time.Hour)})
	if err := h.store.Put(rec); err != nil {
		t.Fatal(err)
	}
	h.clock.Add(10 * time.Minute)
	h.pass(Options{})
	h.clock.Add(10 * time.Minute)
	h.pass(Options{})
	if !slices.Contains(h.api.live("ci-runner"), other) {
		t.Errorf("key %s of another role, which the policy does not match, was deleted", other)
	}
}
