package rotation

import (
	"context"
	"slices"
	"testing"
	"time"
)

// rotatord restarts during a grace period (an upgrade, a crash), and the
// first pass after the restart lists the new key long before the grace
// period ends. The old key goes when the grace period ends, as without a
// restart: this process saw the new key then, and its confirmation delay
// (min(grace period, 10 s), against a wall clock that jumped forward
// across the restart) ran out long before. Every deletion pending across
// a restart was held that delay past the end of its grace period: the
// process confirmed the new key only at the deletion (issue 16: at most
// 1 s after delete_after).
func TestDeletionPendingAcrossARestartGoesWhenTheGracePeriodEnds(t *testing.T) {
	h := newHarness(t, time.Hour)
	old := h.api.add("ci-runner", roleCI)
	h.pass(Options{Force: true})
	deleteAfter := h.record("ci-runner").Rotation.DeleteAfter

	h.newEngine() // a restart, 10 minutes into the grace period
	h.clock.Add(10 * time.Minute)
	h.pass(Options{})

	h.clock.Add(deleteAfter.Add(time.Millisecond).Sub(h.clock.Now()))
	out := h.engine.DeleteDue(context.Background())
	if slices.Contains(h.api.live("ci-runner"), old) {
		t.Fatalf("old key %s alive after its grace period ended, though the process listed the new key 50 minutes before: %+v", old, out)
	}
	if !slices.Contains(h.api.live("ci-runner"), h.record("ci-runner").CurrentKeyID) {
		t.Fatal("the new key is gone")
	}
}
