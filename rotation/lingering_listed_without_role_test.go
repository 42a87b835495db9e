package rotation

// A key that the API answered "deleted" (or 404) for but still lists is
// deleted again once the settle time has passed (deleteLingering), if it
// is of the record's name and role. Every field of the API's schema is
// optional: a listing that leaves that key's role out read as a key of
// another role, and the key was never deleted again.

import (
	"context"
	"slices"
	"testing"
	"time"
)

// firstDeleteLies answers the first DELETE of key id as done, and leaves
// the key alive; it lists keys in blank without their role.
type firstDeleteLies struct {
	*roleless
	id   string
	lied bool
}

func (a *firstDeleteLies) DeleteKey(ctx context.Context, id string) error {
	if id == a.id && !a.lied {
		a.lied = true
		return nil // a 404, or "not in organization", for a key that is there
	}
	return a.fakeAPI.DeleteKey(ctx, id)
}

func TestKeyStillListedWithoutItsRoleAfterItsDeletionIsDeletedAgain(t *testing.T) {
	h := newHarness(t, 0)
	old := h.api.add("ci-runner", roleCI)
	h.pass(Options{})
	api := &firstDeleteLies{roleless: &roleless{fakeAPI: h.api, blank: map[string]bool{old: true}}, id: old}
	h.useAPI(api)
	h.engine.Pass(context.Background(), []string{"ci"}, Options{Force: true})
	if !api.lied {
		t.Fatalf("the old key %s was not deleted at all (record %+v)", old, h.record("ci-runner"))
	}
	for range 3 {
		h.clock.Add(3 * time.Minute)
		h.engine.Pass(context.Background(), []string{"ci"}, Options{IgnoreBackoff: true})
	}
	if slices.Contains(h.api.live("ci-runner"), old) {
		r := h.record("ci-runner")
		t.Errorf("old key %s lives on, listed without its role after its deletion (deleted %v, last error %q)", old, r.Deleted, r.LastError)
	}
}
