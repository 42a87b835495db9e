package rotation

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/state"
)

// roleBlanked lists key blank without its role (every field of the API's
// schema is optional; the chaos campaign's -mangle stand-in drops one
// listing entry's role in twenty), and fails its GET while failGet.
type roleBlanked struct {
	*fakeAPI
	blank   string
	failGet bool
}

func (b *roleBlanked) ListKeys(ctx context.Context) ([]apiclient.Key, error) {
	keys, err := b.fakeAPI.ListKeys(ctx)
	for i := range keys {
		if keys[i].ID == b.blank {
			keys[i].RoleID = ""
		}
	}
	return keys, err
}

func (b *roleBlanked) GetKey(ctx context.Context, id string) (apiclient.Key, error) {
	if b.failGet && id == b.blank {
		return apiclient.Key{}, &apiclient.Error{Kind: apiclient.KindUnavailable, Status: 503, Message: "unavailable"}
	}
	return b.fakeAPI.GetKey(ctx, id)
}

// A policy that matches its keys' role (match.role_id) does not see a key
// of its name listed without its role: with a second key of the name and
// role alive that the record does not know (a journal restored from an
// older copy, a key made by hand), the due name was rotated past it, a
// third live key of the name (chaos -mangle, seed 777: ci-15). The key's
// role is asked for by GET first; of the name's role, or unknown, the
// name is not rotated in that pass.
func TestDueNameIsNotRotatedPastAKeyOfItsNameListedWithoutItsRole(t *testing.T) {
	for _, failGet := range []bool{false, true} {
		h := newHarness(t, time.Hour)
		h.policy.Match = func(name, role string) bool { return strings.HasPrefix(name, "ci-") && sameRoleID(role, roleCI) }
		cur := h.api.add("ci-x", roleCI)
		other := h.api.add("ci-x", roleCI)
		if err := h.store.Put(state.Record{Policy: "ci", Name: "ci-x", CurrentKeyID: cur, RoleID: roleCI,
			CurrentSince: h.clock.Now().Add(-48 * time.Hour), CreatedByUs: true}); err != nil {
			t.Fatal(err)
		}
		api := &roleBlanked{fakeAPI: h.api, blank: other, failGet: failGet}
		h.engine = New(Config{API: api, Store: h.store, Logger: h.engine.log, Recorder: h.rec, Now: h.clock.Now, Sleep: h.clock.Sleep, OwnKeyID: h.own})
		if err := h.engine.SetPolicies([]Policy{h.policy}); err != nil {
			t.Fatal(err)
		}
		plan := findOutcome(h.pass(Options{DryRun: true}), "ci-x")
		o := findOutcome(h.pass(Options{}), "ci-x")
		if h.api.maxLive > 2 || o.Decision.Action == ActionRotate {
			t.Errorf("GET fails %v: %+v: %d live keys of ci-x at once, want at most 2 (now %v)", failGet, o.Decision, h.api.maxLive, h.api.live("ci-x"))
		}
		if plan.Decision.Action == ActionRotate {
			t.Errorf("GET fails %v: plan says %+v, want no rotation as the pass", failGet, plan.Decision)
		}
	}
	// A key of another role under the name, listed without it, is no
	// reason to wait once its GET says so.
	h := newHarness(t, time.Hour)
	h.policy.Match = func(name, role string) bool { return strings.HasPrefix(name, "ci-") && sameRoleID(role, roleCI) }
	cur := h.api.add("ci-x", roleCI)
	other := h.api.add("ci-x", "reader-role")
	if err := h.store.Put(state.Record{Policy: "ci", Name: "ci-x", CurrentKeyID: cur, RoleID: roleCI,
		CurrentSince: h.clock.Now().Add(-48 * time.Hour), CreatedByUs: true}); err != nil {
		t.Fatal(err)
	}
	h.engine = New(Config{API: &roleBlanked{fakeAPI: h.api, blank: other}, Store: h.store, Logger: h.engine.log, Recorder: h.rec, Now: h.clock.Now, Sleep: h.clock.Sleep, OwnKeyID: h.own})
	if err := h.engine.SetPolicies([]Policy{h.policy}); err != nil {
		t.Fatal(err)
	}
	if o := findOutcome(h.pass(Options{}), "ci-x"); o.Decision.Action != ActionRotate || o.Err != nil {
		t.Errorf("beside a key of another role: %+v %v, want rotated", o.Decision, o.Err)
	}
}
