package rotation

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/rotatord/rotatord/state"
)

// A name with ".." (or a trailing ".") is skipped since such names render
// a path a file sink refuses. One that an earlier version managed (a
// policy with Vault or Kubernetes sinks only, where the name worked) may
// have a rotation in flight on record: an intent whose create applied,
// its answer lost. Skipped, that rotation was never finished: the key the
// create made lived on, its secret in no sink, and nobody deleted it. A
// name with a rotation in flight is still handled until it has none.
func TestADotDotNameWithARotationInFlightIsStillFinished(t *testing.T) {
	h := newHarness(t, 0)
	const name = "ci-a..b"
	old := h.api.add(name, roleCI)
	now := h.clock.Now()
	if err := h.store.Put(state.Record{Policy: "ci", Name: name, RoleID: roleCI, CurrentKeyID: old, CurrentSince: now.Add(-48 * time.Hour),
		Rotation: &state.Rotation{Phase: state.PhaseIntent, StartedAt: now.Add(-time.Minute), OldKeyIDs: []string{old},
			KnownKeyIDs: []string{old}, RoleID: roleCI}}); err != nil {
		t.Fatal(err)
	}
	orphan := h.api.add(name, roleCI) // the create the lost answer was about
	for range 4 {
		h.clock.Add(10 * time.Minute)
		h.pass(Options{})
		h.engine.DeleteDue(context.Background())
	}
	if slices.Contains(h.api.live(name), orphan) {
		t.Errorf("key %s, made by the intent's create and in no sink, is still live: %v", orphan, h.api.live(name))
	}
	if r, ok := h.store.Get("ci", name); ok && r.Rotation != nil && r.Rotation.Phase == state.PhaseIntent {
		t.Errorf("the intent is still on record")
	}
}

// The same name with no rotation in flight but a key rotatord deleted that
// the API still lists (a create applied after the rollback's delete
// answered "not found"): deleted again at the next pass before such names
// were skipped, then left live with nobody to delete it.
func TestADotDotNameWithAKeyItDeletedStillListedHasItDeletedAgain(t *testing.T) {
	h := newHarness(t, 0)
	const name = "ci-a..b"
	cur := h.api.add(name, roleCI)
	late := h.api.add(name, roleCI)
	now := h.clock.Now()
	if err := h.store.Put(state.Record{Policy: "ci", Name: name, RoleID: roleCI, CurrentKeyID: cur, CurrentSince: now.Add(-time.Hour),
		Deleted: state.KeyTimesOf(map[string]time.Time{late: now.Add(-time.Hour)})}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		h.clock.Add(10 * time.Minute)
		h.pass(Options{})
	}
	if live := h.api.live(name); slices.Contains(live, late) || !slices.Contains(live, cur) {
		t.Errorf("live keys %v; want %s only (%s was deleted, and is listed still)", live, cur, late)
	}
}
