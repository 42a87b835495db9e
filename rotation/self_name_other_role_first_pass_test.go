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
	h.engine = New(Config{API: api, Store: h.store, Logger: h.engine.log, Recorder: h.rec, Now: h.clock.Now, Sleep: h.clock.Sleep, OwnKeyID: h.own})
	self := Policy{Name: "_self", MaxAge: 24 * time.Hour, GracePeriod: h.policy.GracePeriod, Sinks: toSinks(sh.store), Self: api}
	if err := h.engine.SetPolicies([]Policy{h.policy, self}); err != nil {
		t.Fatal(err)
	}
	failed := func(out []Outcome) {
		t.Helper()
		for _, o := range out {
			if o.Err != nil {
				t.Errorf("%s/%s: %v", o.Policy, o.Name, o.Err)
			}
		}
	}
	out := sh.pass(Options{})
	failed(out)
	if o, ok := outcomeOf(out, "_self"); ok && contains(o.KeyIDs, other) {
		t.Errorf("the own-key policy counted key %s, of another role, among its keys: %v", other, o.KeyIDs)
	}
	if r, _ := h.store.Get("_self", "rotatord-admin"); r.Rotation != nil && contains(r.Rotation.OldKeyIDs, other) {
		t.Errorf("the own-key policy took key %s, of another role, as an old key of its own: %+v", other, *r.Rotation)
	}
	h.clock.Add(2 * time.Hour)
	failed(sh.pass(Options{}))
	h.clock.Add(time.Minute)
	failed(h.engine.DeleteDue(context.Background()))
	if !contains(h.api.live("rotatord-admin"), other) {
		t.Errorf("key %s of another role deleted", other)
	}
}
