package rotation

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/hooks"
)

// The deleter runs without a pass's listing, before any pass of a
// process. With another organization's credential in the account's place
// (a restart after a staging credential was copied over production's),
// the delivered rotation's new key is gone from that organization: the
// deleter took it as vanished during the grace period, cleared the
// rotation and the current key, so that the old key, still live in the
// journal's organization, was forgotten. Once the right credential was
// back, the name had two live keys and a record naming neither: with
// sinks that cannot give the key back, no pass rotated it again ("two
// live keys already") and the old key was never deleted.
func TestTheDeleterWithAnotherOrganizationsCredentialKeepsTheJournal(t *testing.T) {
	h := newHarness(t, time.Hour)
	// Sinks that cannot give the key back (free-form templates): no
	// sink tells which of the name's two keys is the current one.
	h.sinkA.opaque, h.sinkB.opaque = true, true
	old := h.api.add("ci-runner", roleCI)
	h.pass(Options{Force: true})
	newKey := h.sinkA.holds("ci-runner")
	if newKey == "" || newKey == old {
		t.Fatalf("sink a holds %q after the rotation, want a new key", newKey)
	}
	before := h.record("ci-runner")

	// Another organization: a key of the same name, another role, and
	// its own admin key the credential is of.
	other := newFakeAPI(t)
	other.n = 1 << 40 // key ids are unique across organizations
	otherOwn := other.add("rotatord-admin", "99999999-9999-9999-9999-999999999999")
	other.add("ci-runner", "88888888-8888-8888-8888-888888888888")
	foreign := New(Config{API: other, Store: h.store, Logger: h.engine.log, Recorder: h.rec, Now: h.clock.Now, Sleep: h.clock.Sleep, OwnKeyID: otherOwn})
	if err := foreign.SetPolicies([]Policy{h.policy}); err != nil {
		t.Fatal(err)
	}
	for range 6 {
		h.clock.Add(2 * time.Hour)
		foreign.DeleteDue(context.Background())
		if _, err := foreign.Pass(context.Background(), nil, Options{}); err == nil {
			t.Fatal("a pass with another organization's credential was not refused")
		}
	}
	after := h.record("ci-runner")
	if after.CurrentKeyID != before.CurrentKeyID || after.Rotation == nil || !slices.Equal(after.Rotation.OldKeyIDs, before.Rotation.OldKeyIDs) || after.Rotation.NewKeyID != newKey {
		t.Errorf("the deleter with another organization's credential rewrote the record:\nbefore current %q rotation %+v\nafter  current %q rotation %+v",
			before.CurrentKeyID, before.Rotation, after.CurrentKeyID, after.Rotation)
	}

	// The right credential back: the old key goes, the new one stays.
	h.newEngine()
	for range 3 {
		h.pass(Options{})
		h.engine.DeleteDue(context.Background())
		h.clock.Add(2 * time.Hour)
	}
	if live := h.api.live("ci-runner"); !slices.Equal(live, []string{newKey}) {
		t.Errorf("live keys of ci-runner %v once the right credential is back, want only the new key %s (old %s)", live, newKey, old)
	}
}

// reloadWhileListing is the API in force until a reload that lands while
// its listing is on the wire puts another credential in its place.
type reloadWhileListing struct {
	*fakeAPI
	reload func()
}

func (r *reloadWhileListing) ListKeys(ctx context.Context) ([]apiclient.Key, error) {
	keys, err := r.fakeAPI.ListKeys(ctx)
	if r.reload != nil {
		r.reload()
		r.reload = nil
	}
	return keys, err
}

// A reload that puts another organization's credential in place while a
// pass's listing, signed with the old one, is on the wire: that listing
// (of the journal's organization) was checked as the new credential's,
// which was then never checked, and the next passes, signed with it,
// adopted and rotated the other organization's keys.
func TestAReloadDuringTheListingDoesNotPassTheNewCredentialUnchecked(t *testing.T) {
	h := newHarness(t, time.Hour)
	h.api.add("ci-runner", roleCI)
	h.pass(Options{})

	other := newFakeAPI(t)
	other.n = 1 << 40 // key ids are unique across organizations
	otherOwn := other.add("rotatord-admin", "99999999-9999-9999-9999-999999999999")
	other.add("ci-green-only", "88888888-8888-8888-8888-888888888888")
	h.newEngine() // a restart: the organization is checked anew
	api := &reloadWhileListing{fakeAPI: h.api}
	api.reload = func() { h.engine.Reconfigure(other, otherOwn, 4) }
	h.engine.Reconfigure(api, h.own, 4)
	// The pass whose listing was signed with the journal's credential.
	_, _ = h.engine.Pass(context.Background(), nil, Options{})
	if _, err := h.engine.Pass(context.Background(), nil, Options{}); err == nil || !strings.Contains(err.Error(), "another organization") {
		t.Errorf("a pass signed with another organization's credential after a reload: %v, want it refused", err)
	}
	if got := other.live("ci-green-only"); len(got) != 1 {
		t.Errorf("the other organization's ci-green-only keys: %v, want its one key untouched", got)
	}
	if _, ok := h.store.Get("ci", "ci-green-only"); ok {
		t.Errorf("the other organization's ci-green-only was adopted into the journal")
	}
}

// The deleter checks the credential's organization before its hooks, and
// runs a pending after_delivery hook outside the install lock, so that a
// reload need not wait for it. A reload that puts another organization's
// credential in place meanwhile, and leaves the policy as it was (only
// the credential file changed), let the handler go on under the new
// client, unchecked: the rotation's new key, absent from that
// organization, was on its way to being taken as vanished during the grace period, the
// rotation and the current key cleared, and the old keys, live in the
// journal's organization, forgotten (after a second look: the first
// noted the new key missing, with a failure, and asked that organization
// for the journal's keys).
func TestAReloadDuringTheDeletersHookDoesNotDeleteWithTheNewCredentialUnchecked(t *testing.T) {
	h := newHarness(t, time.Hour)
	h.policy.Fingerprint = "ci policy as the file has it"
	other := newFakeAPI(t)
	other.n = 1 << 40 // key ids are unique across organizations
	otherOwn := other.add("rotatord-admin", "99999999-9999-9999-9999-999999999999")
	other.add("ci-runner", "88888888-8888-8888-8888-888888888888")
	fail, reload := true, false
	h.policy.Hooks = []Hook{{Event: hooks.AfterDelivery, Label: "exec#0", Run: func(ctx context.Context, ev hooks.Event) error {
		if reload {
			reload = false
			unlock := h.engine.LockInstall()
			h.engine.CommitLocked(ctx, Install{Policies: []Policy{h.policy}, API: other, OwnKeyID: otherOwn})
			unlock()
		}
		if fail {
			return errors.New("consumer not reachable")
		}
		return nil
	}}}
	h.newEngine()
	h.api.add("ci-runner", roleCI)
	h.pass(Options{Force: true})
	before := h.record("ci-runner")
	if before.Rotation == nil || !slices.Contains(before.Rotation.HooksPending, hooks.AfterDelivery) {
		t.Fatalf("want a delivered rotation with its after_delivery hook owed, got %+v", before.Rotation)
	}
	h.clock.Add(2 * time.Hour) // the grace period is over
	fail, reload = false, true
	out := h.engine.DeleteDue(context.Background(), Options{IgnoreBackoff: true})
	if reload {
		t.Fatal("the deleter did not run the owed after_delivery hook")
	}
	if other.gets > 0 {
		t.Errorf("the deleter asked another organization's API, put in place by a reload during its hook and not checked, for the journal's keys (%d GETs); outcomes %+v", other.gets, out)
	}
	after := h.record("ci-runner")
	if after.Rotation != nil && !after.Rotation.NewMissingSince.IsZero() {
		t.Errorf("the new key %s noted missing by another organization's API", after.Rotation.NewKeyID)
	}
	if after.CurrentKeyID != before.CurrentKeyID || after.Rotation == nil || !slices.Equal(after.Rotation.OldKeyIDs, before.Rotation.OldKeyIDs) || after.Rotation.NewKeyID != before.Rotation.NewKeyID {
		t.Errorf("the deleter went on with another organization's credential a reload put in place during its hook:\nbefore current %q rotation %+v\nafter  current %q rotation %+v",
			before.CurrentKeyID, before.Rotation, after.CurrentKeyID, after.Rotation)
	}
}
