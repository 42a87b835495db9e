package rotation

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"
)

// As in TestAPolicyPutBackWithAStaleRecordDoesNotTakeTheNameFromItsManager
// (ci put back first, its record of the key ci2 deleted since), and then a
// key of another role appears under the name (made by hand, or a third
// policy's). No record is of that role: the first policy with a record
// took that key, and that was ci, through its stale record. ci, its
// current key gone, rotated the name (a new key of its record's role);
// its rotation in flight then took ci2's key too, and ci deleted it once
// it had adopted its own from its sinks: ci2's consumers were left with a
// deleted key. The key of another role goes to the policy whose record
// is up to date, ci2.
func TestAPolicyPutBackWithAStaleRecordDoesNotTakeTheNameThroughAKeyOfAnotherRole(t *testing.T) {
	h := newHarness(t, time.Hour)
	const otherRole = "33333333-3333-3333-3333-333333333333"
	sinkC, _, _ := handedToCi2AndPutBack(t, h, func(name, role string) bool { return strings.HasPrefix(name, "ci-r") })
	h.api.add("ci-runner", otherRole)
	for _, o := range h.pass(Options{DryRun: true}) {
		if o.Name == "ci-runner" && o.Policy == "ci" && (len(o.KeyIDs) > 0 || o.Decision.Action != ActionNone) {
			t.Errorf("plan: ci handles ci-runner's keys %v (%s/%s), want ci2 to", o.KeyIDs, o.Decision.Action, o.Decision.Reason)
		}
	}
	for range 8 {
		h.clock.Add(30 * time.Minute)
		for _, o := range h.pass(Options{}) {
			if o.Name == "ci-runner" && o.Policy == "ci" && (len(o.KeyIDs) > 0 || o.Decision.Action != ActionNone) {
				t.Errorf("ci handles ci-runner's keys %v: %s (%s)", o.KeyIDs, o.Decision.Action, o.Decision.Reason)
			}
		}
		h.engine.DeleteDue(context.Background())
	}
	if held := sinkC.holds("ci-runner"); !slices.Contains(h.api.live("ci-runner"), held) {
		t.Errorf("ci2's sink holds %s, which the API no longer lists (live: %v): ci2's consumers are left with a deleted key", held, h.api.live("ci-runner"))
	}
}
