package rotation

import (
	"testing"
	"time"

	"github.com/rotatord/rotatord/state"
)

// rotatord's own key shares a name with two keys of another role that
// the policy matches, with no rotation on record and one sink holding one
// of them. A policy matching the own key's name leaves the whole name
// alone, whatever the role: the adoption from the sinks must not write
// the other sink either (found by review: it did, before the own-key
// check, and recorded nothing).
func TestAdoptionLeavesTheOwnKeysNameAlone(t *testing.T) {
	h := newHarness(t, time.Hour)
	h.own = h.api.add("shared", "admin-role")
	h.policy.Match = func(name, role string) bool { return name == "shared" && role == roleCI }
	h.newEngine()
	ci := h.api.add("shared", roleCI)
	h.api.add("shared", roleCI)
	h.sinkA.held["shared"] = credOf("shared", ci)
	writes := h.sinkB.writes

	for _, o := range h.pass(Options{}) {
		if o.Name == "shared" && o.Decision.Reason != ReasonOwnKey {
			t.Errorf("shared: %v, want it skipped as rotatord's own key's name", o.Decision)
		}
	}
	if h.sinkB.writes != writes || h.sinkB.holds("shared") != "" {
		t.Errorf("sink b written on the own key's name (%d writes, holds %q)", h.sinkB.writes-writes, h.sinkB.holds("shared"))
	}
	if _, ok := h.store.Get("ci", "shared"); ok {
		t.Error("a record written for the own key's name")
	}
}

// A key on the own key's name that rotatord deleted, and that the API
// still lists (it answered "deleted"), is deleted again once per settle
// time, as on any other name: the skip of the own key's name used to
// drop the record of the redeletion, so every pass deleted it again (a
// review finding).
func TestLingeringKeyOnTheOwnKeysNameIsDeletedOncePerSettleTime(t *testing.T) {
	h := newHarness(t, time.Hour)
	h.own = h.api.add("shared", "admin-role")
	h.policy.Match = func(name, role string) bool { return name == "shared" && role == roleCI }
	h.newEngine()
	cur := h.api.add("shared", roleCI)
	lingering := h.api.add("shared", roleCI)
	h.api.zombies = map[string]bool{lingering: true}
	if err := h.store.Put(state.Record{Policy: "ci", Name: "shared", CurrentKeyID: cur, RoleID: roleCI,
		CurrentSince: h.clock.Now(), Deleted: state.KeyTimesOf(map[string]time.Time{lingering: h.clock.Now()})}); err != nil {
		t.Fatal(err)
	}
	deletes := func() int {
		h.api.mu.Lock()
		defer h.api.mu.Unlock()
		n := 0
		for _, id := range h.api.deleted {
			if id == lingering {
				n++
			}
		}
		return n
	}

	h.clock.Add(3 * time.Minute) // past the settle time: due again
	h.pass(Options{})
	if n := deletes(); n != 1 {
		t.Fatalf("deleted %d times once the settle time passed, want 1", n)
	}
	for range 3 {
		h.clock.Add(20 * time.Second) // within the settle time of that deletion
		for _, o := range h.pass(Options{}) {
			if o.Name == "shared" && o.Decision.Reason != ReasonOwnKey {
				t.Errorf("shared: %v, want it skipped as rotatord's own key's name", o.Decision)
			}
		}
	}
	if n := deletes(); n != 1 {
		t.Errorf("deleted %d times, want once per settle time (1)", n)
	}
	rec, _ := h.store.Get("ci", "shared")
	if rec.CurrentKeyID != cur || !rec.Deleted.Has(lingering) {
		t.Errorf("record changed beyond the redeletion: current %q, deleted %v", rec.CurrentKeyID, rec.Deleted)
	}
}
