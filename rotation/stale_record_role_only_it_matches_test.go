package rotation

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"
)

// As TestAPolicyPutBackWithAStaleRecordDoesNotTakeTheNameThroughAKeyOfAnotherRole,
// with ci2 matching roleCI alone: ci is the only policy that matches the
// key of another role made under the name, and takes it. Its record, of
// the key ci2 had deleted, made it rotate (its current key gone): a new
// key of roleCI, whose rotation in flight took ci2's key too, and ci
// deleted it once it had adopted its own from its sinks (an outage for
// ci2's consumers). ci's record yields the name as one whose keys are
// gone; forgotten, ci takes the key of the other role as a new name's.
func TestAPolicyPutBackWithAStaleRecordDoesNotTakeTheNameThroughAKeyOfARoleOnlyItMatches(t *testing.T) {
	h := newHarness(t, time.Hour)
	const otherRole = "33333333-3333-3333-3333-333333333333"
	sinkC, _, cur := handedToCi2AndPutBack(t, h, func(name, role string) bool { return strings.HasPrefix(name, "ci-r") && role == roleCI })
	other := h.api.add("ci-runner", otherRole)
	for _, o := range h.pass(Options{DryRun: true}) {
		if o.Name == "ci-runner" && o.Policy == "ci" && (len(o.KeyIDs) > 0 || o.Decision.Action != ActionNone) {
			t.Errorf("plan: ci handles ci-runner's keys %v (%s/%s), want ci2 to", o.KeyIDs, o.Decision.Action, o.Decision.Reason)
		}
	}
	for range 8 {
		h.clock.Add(30 * time.Minute)
		for _, o := range h.pass(Options{}) {
			if o.Name == "ci-runner" && o.Policy == "ci" && (slices.Contains(o.KeyIDs, cur) || o.Decision.Action != ActionNone) {
				t.Errorf("ci handles ci-runner's keys %v: %s (%s)", o.KeyIDs, o.Decision.Action, o.Decision.Reason)
			}
		}
		h.engine.DeleteDue(context.Background())
	}
	if r, ok := h.store.Get("ci", "ci-runner"); !ok || r.RoleID != otherRole || r.CurrentKeyID != other {
		t.Errorf("ci's record %+v, want one of the key of the other role, %s", r, other)
	}
	if h.rec.refused != 0 {
		t.Errorf("%d deletions refused", h.rec.refused)
	}
	if held := sinkC.holds("ci-runner"); !slices.Contains(h.api.live("ci-runner"), held) {
		t.Errorf("ci2's sink holds %s, which the API no longer lists (live: %v): ci2's consumers are left with a deleted key", held, h.api.live("ci-runner"))
	}
}
