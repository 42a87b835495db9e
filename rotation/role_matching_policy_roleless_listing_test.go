package rotation

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/state"
)

// roleFreeListing lists every key without its role (the API's fields are
// optional); its GETs give the role.
type roleFreeListing struct{ *fakeAPI }

func (b roleFreeListing) ListKeys(ctx context.Context) ([]apiclient.Key, error) {
	keys, err := b.fakeAPI.ListKeys(ctx)
	for i := range keys {
		keys[i].RoleID = ""
	}
	return keys, err
}

// A policy that matches its keys' role (match.role_id), against an API
// whose listings leave the role out: a key a record names is of the
// record's role (a key's role never changes). Taken as no key of the
// policy's, the name's current key was "no longer" there while it was
// listed, the record was forgotten and the name never rotated again,
// without an error (plan and once showed nothing).
func TestARoleMatchingPolicyKeepsRotatingWhenListingsLeaveRolesOut(t *testing.T) {
	h := newHarness(t, time.Hour)
	h.policy.Match = func(name, role string) bool { return strings.HasPrefix(name, "ci-") && sameRoleID(role, roleCI) }
	cur := h.api.add("ci-x", roleCI)
	h.api.add("ci-x", "reader-role") // another credential under the name
	if err := h.store.Put(state.Record{Policy: "ci", Name: "ci-x", CurrentKeyID: cur, RoleID: roleCI,
		CurrentSince: h.clock.Now().Add(-48 * time.Hour), CreatedByUs: true}); err != nil {
		t.Fatal(err)
	}
	h.engine = New(Config{API: roleFreeListing{h.api}, Store: h.store, Logger: h.engine.log, Recorder: h.rec, Now: h.clock.Now, Sleep: h.clock.Sleep, OwnKeyID: h.own})
	if err := h.engine.SetPolicies([]Policy{h.policy}); err != nil {
		t.Fatal(err)
	}
	for i, want := range []Action{ActionRotate, ActionDelete, ActionNone, ActionRotate, ActionDelete} {
		plan := findOutcome(h.pass(Options{DryRun: true}), "ci-x")
		o := findOutcome(h.pass(Options{}), "ci-x")
		if o.Decision.Action != want || o.Err != nil || plan.Decision.Action != want {
			t.Fatalf("pass %d: plan %+v, once %+v %v, want %s", i, plan.Decision, o.Decision, o.Err, want)
		}
		if h.api.maxLive > 3 { // two of ci's role, and the reader key
			t.Fatalf("pass %d: %d live keys of ci-x at once: %v", i, h.api.maxLive, h.api.live("ci-x"))
		}
		h.clock.now = h.clock.now.Add(2 * time.Hour)
		if want == ActionNone {
			h.clock.now = h.clock.now.Add(24 * time.Hour)
		}
	}
	if r := h.record("ci-x"); r.CurrentKeyID == cur || r.RoleID != roleCI {
		t.Errorf("record %+v, want rotated, of ci's role", r)
	}
	if n := len(h.api.live("ci-x")); n != 2 {
		t.Errorf("%d live keys of ci-x: %v, want the current one and the reader's", n, h.api.live("ci-x"))
	}
}
