package rotation

import (
	"context"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient"
)

// otherRoleHidden is the own-key harness's API whose listings leave the
// role of key blank out, and whose GET of it fails while failGet.
type otherRoleHidden struct {
	*signedAPI
	blank   string
	failGet bool
}

func (r *otherRoleHidden) GetKey(ctx context.Context, id string) (apiclient.Key, error) {
	if r.failGet && id == r.blank {
		return apiclient.Key{}, &apiclient.Error{Kind: apiclient.KindUnavailable, Status: 503, Message: "unavailable"}
	}
	return r.signedAPI.GetKey(ctx, id)
}

func (r *otherRoleHidden) ListKeys(ctx context.Context) ([]apiclient.Key, error) {
	keys, err := r.signedAPI.ListKeys(ctx)
	for i := range keys {
		if keys[i].ID == r.blank {
			keys[i].RoleID = ""
		}
	}
	return keys, err
}

// A key of rotatord's own name and another role (a read-only key someone
// named alike; the README allows it) that a listing shows without its
// role, while its GET fails once (a 503), is no key of rotatord's: it was
// taken for the own key's, adopted from the credential store as an old
// key "to be deleted after the grace period", and the deletion was then
// refused as an edited state record (a failure, the refusal alert), the
// own key kept from rotating meanwhile.
func TestOwnNameKeyOfAnotherRoleWhoseRoleIsUnknownOnceIsLeftAlone(t *testing.T) {
	sh := newSelfHarness(t, time.Hour)
	h := sh.harness
	sh.pass(Options{})
	other := h.api.add("rotatord-admin", "reader-role")
	api := &otherRoleHidden{signedAPI: sh.sapi, blank: other, failGet: true}
	sh.restartWith(api, api)
	noFailures(t, sh.pass(Options{}))
	if r, _ := h.store.Get("_self", "rotatord-admin"); r.Rotation != nil && contains(r.Rotation.OldKeyIDs, other) {
		t.Errorf("the own-key policy took key %s, of another role, as an old key of its own: %+v", other, *r.Rotation)
	}
	api.failGet = false
	h.clock.Add(2 * time.Hour)
	noFailures(t, sh.pass(Options{}))
	h.clock.Add(time.Minute)
	noFailures(t, h.engine.DeleteDue(context.Background()))
	if !contains(h.api.live("rotatord-admin"), other) {
		t.Errorf("key %s of another role deleted", other)
	}
}
