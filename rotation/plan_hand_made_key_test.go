package rotation

import (
	"context"
	"slices"
	"testing"
	"time"
)

// A key made by hand under a managed name and role, beside the current key
// the record says its sinks hold: a pass keeps the current key and deletes
// the hand-made one after the grace period. plan must say so, not that
// nothing will happen ("two live keys already") while the pass that
// follows schedules the hand-made key's deletion.
func TestPlanShowsAHandMadeKeyAPassWouldDelete(t *testing.T) {
	h := newHarness(t, time.Hour)
	h.api.add("ci-runner", roleCI)
	h.pass(Options{Force: true})
	h.clock.Add(time.Hour + time.Minute)
	h.engine.DeleteDue(context.Background())
	current := h.sinkA.holds("ci-runner")
	if live := h.api.live("ci-runner"); len(live) != 1 || live[0] != current {
		t.Fatalf("live = %v, want only the delivered key %s", live, current)
	}
	h.clock.Add(48 * time.Hour) // due again: plan's first answer was "two live keys already"
	handMade := h.api.add("ci-runner", roleCI)

	planned := findOutcome(h.pass(Options{DryRun: true}), "ci-runner").Decision
	if planned.Reason != ReasonRetireOthers {
		t.Fatalf("plan decision = %+v, want reason %q", planned, ReasonRetireOthers)
	}
	if want := h.clock.Now().Add(time.Hour); !planned.Due.Equal(want) {
		t.Fatalf("plan due = %v, want the end of a grace period from now, %v", planned.Due, want)
	}
	if r := h.record("ci-runner"); r.Rotation != nil {
		t.Fatalf("plan changed the record: %+v", r.Rotation)
	}

	// What the pass then does: what plan said.
	h.pass(Options{})
	r := h.record("ci-runner")
	if r.Rotation == nil || r.CurrentKeyID != current || !slices.Contains(r.Rotation.OldKeyIDs, handMade) {
		t.Fatalf("record after the pass = %+v, want the hand-made key %s scheduled for deletion, %s kept", r, handMade, current)
	}
}
