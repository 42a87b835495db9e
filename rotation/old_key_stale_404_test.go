package rotation

// Found by review: a single GET that answered 404 for an OLD key ended the
// rotation in deleteOld (lookup -> ErrNotFound -> "already gone"), with
// the old key still alive and no longer on record to be deleted. The
// README says "No single not found ends a rotation: a GET that answers 404
// is checked against a listing". The deleter (DeleteDue, which now fires
// at the exact end of the grace period) is the path that looks old keys up
// by GET.
//
// With sinks that cannot give a secret back (templates) the old key then
// lives forever: the name has two live keys and no rotation, adoption
// finds no sink to decide, and the name is blocked ("two live keys").

import (
	"context"
	"testing"
	"time"
)

func TestOldKeyA404LiesAboutIsStillDeleted(t *testing.T) {
	h := newHarness(t, time.Hour)
	old := h.api.add("ci-runner", roleCI)
	h.sinkA.opaque = true
	h.sinkB.opaque = true
	h.setSinks(fpSink{h.sinkA}, fpSink{h.sinkB}) // two template sinks
	h.pass(Options{Force: true})
	r := h.record("ci-runner")
	if r.Rotation == nil || r.Rotation.NewKeyID == "" {
		t.Fatalf("no delivered rotation: %+v", r.Rotation)
	}
	newID := r.Rotation.NewKeyID

	h.clock.Add(time.Hour + time.Second)
	// One lying answer: GET of the old key says 404 (a stale read); the
	// listing still shows it.
	h.api.mu.Lock()
	h.api.getLag = map[string]bool{old: true}
	h.api.mu.Unlock()
	h.engine.DeleteDue(context.Background())
	h.api.mu.Lock()
	h.api.getLag = nil
	h.api.mu.Unlock()

	r = h.record("ci-runner")
	live := h.api.live("ci-runner")
	oldLive := false
	for _, id := range live {
		if id == old {
			oldLive = true
		}
	}
	if oldLive && r.Rotation == nil && !r.Deleted.Has(old) {
		t.Errorf("LEAK: old key %s is alive, no sink holds it (sinks hold %s), and the record no longer schedules its deletion", old, newID)
	}
	// Later passes, faults gone: is the old key ever deleted?
	for range 5 {
		h.clock.Add(2 * time.Hour)
		h.pass(Options{IgnoreBackoff: true})
		h.engine.DeleteDue(context.Background())
	}
	if live := h.api.live("ci-runner"); len(live) != 1 {
		t.Errorf("after 10 hours and 5 clean passes the name still has keys %v (new %s, old %s): the old key is never deleted", live, newID, old)
	}
}

// The same lie with readable sinks: the listing shows the old key, so the
// deleter deletes it then, not a grace period later after a re-adoption.
func TestOldKeyA404LiesAboutWithReadableSinks(t *testing.T) {
	h := newHarness(t, time.Hour)
	old := h.api.add("ci-runner", roleCI)
	h.pass(Options{Force: true})
	newID := h.record("ci-runner").Rotation.NewKeyID
	h.clock.Add(time.Hour + time.Second)
	h.api.mu.Lock()
	h.api.getLag = map[string]bool{old: true}
	h.api.mu.Unlock()
	h.engine.DeleteDue(context.Background())
	if live := h.api.live("ci-runner"); len(live) != 1 || live[0] != newID {
		t.Errorf("after the deletion round: keys %v, want only the new key %s (old %s)", live, newID, old)
	}
	if r := h.record("ci-runner"); r.Rotation != nil || !r.Deleted.Has(old) {
		t.Errorf("record: rotation %+v, deleted %v; want the rotation done and %s deleted", r.Rotation, r.Deleted, old)
	}
}
