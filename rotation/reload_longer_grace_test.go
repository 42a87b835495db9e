package rotation

import (
	"context"
	"slices"
	"testing"
	"time"
)

// An operator lengthens grace_period (1h to 3h, a consumer that reads its
// file only every two hours) and reloads during a rotation's grace
// period. The old key must live until the new grace period ends: its
// deletion stayed at the end recorded at the delivery, under the old
// value, and the consumer that had not picked the new key up yet was
// left with a deleted key. A shorter grace_period does not bring a
// deletion forward.
func TestReloadThatLengthensTheGracePeriodHoldsThePendingDeletion(t *testing.T) {
	h := newHarness(t, time.Hour)
	old := h.api.add("ci-runner", roleCI)
	h.pass(Options{Force: true})

	h.policy.GracePeriod = 3 * time.Hour
	if err := h.engine.SetPolicies([]Policy{h.policy}); err != nil {
		t.Fatal(err)
	}
	h.clock.Add(time.Hour + time.Minute) // the old grace period is over, the new one is not
	h.pass(Options{})
	h.engine.DeleteDue(context.Background())
	h.clock.Add(time.Minute) // past any confirmation delay
	h.pass(Options{})
	h.engine.DeleteDue(context.Background())
	if !slices.Contains(h.api.live("ci-runner"), old) {
		t.Fatalf("old key %s deleted 1h02m after the delivery, though a reload lengthened grace_period to 3h", old)
	}
	if next, ok := h.engine.NextDeletion(h.clock.Now()); !ok || next.Before(h.record("ci-runner").Rotation.DeliveredAt.Add(3*time.Hour)) {
		t.Errorf("NextDeletion = %v, %v; want the end of the lengthened grace period", next, ok)
	}

	h.clock.Add(2 * time.Hour) // 3h02m after the delivery
	h.pass(Options{})
	h.engine.DeleteDue(context.Background())
	if slices.Contains(h.api.live("ci-runner"), old) {
		t.Errorf("old key %s alive after the lengthened grace period ended", old)
	}
}
