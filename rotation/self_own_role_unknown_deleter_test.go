package rotation

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rotatord/rotatord/sinks"
)

// A process's first pass lists the key rotatord signs with (made by hand,
// unknown to the records) without its role, and its GET fails: the own
// key's role is unknown. The deleter, running before the next pass, must
// not take that for "the own key has no role": it refused the deletion
// of the old own key of the rotation whose grace period is over as an
// edited state record (a refusal counted, the rotation cleared), though
// the API shows that key with the own name and the records' role.
func TestTheDeleterDoesNotRefuseAnOldOwnKeyWhileTheOwnKeysRoleIsUnknown(t *testing.T) {
	sh := newSelfHarness(t, time.Hour)
	h := sh.harness
	k1 := sh.own
	sh.pass(Options{Force: true}) // k1 -> k2, k1 deleted after the grace period
	k, err := h.api.CreateKey(context.Background(), "rotatord-admin", h.api.keys[k1].RoleID)
	if err != nil {
		t.Fatal(err)
	}
	sh.store.held["rotatord-admin"] = sinks.Credential{Name: "rotatord-admin", KeyID: k.ID, Secret: k.Secret}
	sh.restart(k.ID)
	api := &ownRoleHidden{signedAPI: sh.sapi, blank: k.ID, failGet: true}
	sh.restartWith(api, api)
	h.clock.Add(2 * time.Hour)
	sh.pass(Options{})
	h.clock.Add(time.Minute)
	for _, o := range h.engine.DeleteDue(context.Background()) {
		if errors.Is(o.Err, ErrDeletionRefused) {
			t.Errorf("%s/%s: %v", o.Policy, o.Name, o.Err)
		}
	}
	if contains(sh.liveAdmin(), k1) {
		if r, _ := h.store.Get("_self", "rotatord-admin"); r.Rotation == nil || !contains(r.Rotation.OldKeyIDs, k1) {
			t.Errorf("old own key %s alive and no longer an old key of a rotation (record %+v)", k1, r.Rotation)
		}
	}
}
