package rotation

import (
	"context"
	"slices"
	"testing"
	"time"
)

// A record whose delivered_at was edited (or restored) to a time after its
// own delete_after, far in the future here, cannot hold the old key past
// the delete_after on record: a delivery after the end of its own grace
// period says nothing of when the grace period ends. The grace period in
// force counted from it held the old key alive for thousands of years,
// a key nobody uses.
func TestAnEditedDeliveryTimeDoesNotHoldTheOldKeyPastItsRecordedEnd(t *testing.T) {
	h := newHarness(t, time.Hour)
	old := h.api.add("ci-runner", roleCI)
	h.pass(Options{Force: true})
	r := h.record("ci-runner")
	r.Rotation.DeliveredAt = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := h.store.Put(r); err != nil {
		t.Fatal(err)
	}
	h.clock.Add(time.Hour + time.Minute)
	for range 2 {
		h.pass(Options{})
		h.engine.DeleteDue(context.Background())
		h.clock.Add(time.Minute) // past any confirmation delay
	}
	if slices.Contains(h.api.live("ci-runner"), old) {
		t.Fatalf("old key %s alive after delete_after (%v), its record's delivered_at edited to %v", old, r.Rotation.DeleteAfter, r.Rotation.DeliveredAt)
	}
}
