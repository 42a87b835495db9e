package rotation

import (
	"testing"
	"time"

	"github.com/rotatord/rotatord/state"
)

// Defect: the orphan search deletes keys by the role its record names,
// without the checks deleteOld makes (the policy matches the key). The
// README: "an edited state record cannot aim a deletion elsewhere".
// The README also says "Keys of another role under the same name are other
// credentials and are never touched." Sequence: policy ci (match ci-*, any
// role) manages ci-runner, role roleCI; the name also has a key of another
// role (another team's credential). The state record is edited by hand
// (or restored from a corrupted copy) to say an intent is in flight with
// role_id set to that other role and no known_key_ids; rotatord restarts
// (the stranding check passes: the policy matches that role). The next
// pass recovers the intent and deletes the other role's key as "created
// without a delivered secret". searchOrphans should apply deleteOld's
// checks: only a key of the record's own role (rec.RoleID, the current
// key's) that the policy matches, and only ids not older than the intent
// (the record cannot prove the key is its own when known_key_ids is
// missing).
func TestAnEditedIntentCannotAimTheOrphanSearchAtAnotherRole(t *testing.T) {
	h := newHarness(t, 0)
	cur := h.api.add("ci-runner", roleCI)
	h.pass(Options{})
	foreign := h.api.add("ci-runner", roleOther)
	h.pass(Options{})
	if live := h.api.live("ci-runner"); len(live) != 2 || h.record("ci-runner").CurrentKeyID != cur {
		t.Fatalf("setup: live %v, record %+v", live, h.record("ci-runner"))
	}
	r := h.record("ci-runner")
	r.Rotation = &state.Rotation{Phase: state.PhaseIntent, StartedAt: h.clock.Now().Add(-time.Hour),
		OldKeyIDs: []string{cur}, RoleID: roleOther}
	if err := h.store.Put(r); err != nil {
		t.Fatal(err)
	}
	h.openStore() // restart
	h.newEngine()
	h.pass(Options{})
	live := h.api.live("ci-runner")
	found := false
	for _, id := range live {
		found = found || id == foreign
	}
	if !found {
		t.Errorf("the key %s of role %s, another credential, was deleted by the orphan search (live %v)", foreign, roleOther, live)
	}
}
