package rotation

import (
	"context"
	"testing"
	"time"
)

// The first pass that ever manages rotatord's own key (no record of it
// yet: a new journal, or _self just added), against an API whose listing
// gives no roles: a key of the own name and another role (a read-only key
// named alike) must be asked for by GET like the own key is, not taken
// for an own key because the listing left its role out.
func TestFirstOwnKeyPassAsksTheRoleOfOtherKeysOfTheOwnName(t *testing.T) {
	sh := newSelfHarness(t, time.Hour)
	h := sh.harness
	other := h.api.add("rotatord-admin", "reader-role")
	api := rolelessListing{sh.sapi}
	sh.restartWith(api, api)
	out := sh.pass(Options{})
	noFailures(t, out)
	if o, ok := outcomeOf(out, "_self"); ok && contains(o.KeyIDs, other) {
		t.Errorf("the own-key policy counted key %s, of another role, among its keys: %v", other, o.KeyIDs)
	}
	if r, _ := h.store.Get("_self", "rotatord-admin"); r.Rotation != nil && contains(r.Rotation.OldKeyIDs, other) {
		t.Errorf("the own-key policy took key %s, of another role, as an old key of its own: %+v", other, *r.Rotation)
	}
	h.clock.Add(2 * time.Hour)
	noFailures(t, sh.pass(Options{}))
	h.clock.Add(time.Minute)
	noFailures(t, h.engine.DeleteDue(context.Background()))
	if !contains(h.api.live("rotatord-admin"), other) {
		t.Errorf("key %s of another role deleted", other)
	}
}
