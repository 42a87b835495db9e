package rotation

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/rotatord/rotatord/hooks"
)

// A deletion that finds the new key gone (deleted by someone while the
// consumer check ran, or during the grace period) keeps the old keys and
// clears the rotation: the sinks hold a key that signs nothing until the
// name rotates again. Found by the deleter, nothing on record asked for a
// pass (no rotation in flight, no failure: RetryDue and Unsettled are
// empty), so that rotation waited for the policy's next scheduled pass
// (an hour by default, a day with a daily schedule, the next window). The
// outcome now says so (ReasonNewKeyVanished), for the daemon to follow up
// with a pass at once.
func TestANewKeyFoundGoneByADeletionIsReportedForAPassToFollow(t *testing.T) {
	for _, c := range []struct {
		name  string
		grace time.Duration
	}{{"grace 1h", time.Hour}, {"grace 0", 0}} {
		t.Run(c.name, func(t *testing.T) {
			// Someone deletes the new key while the check runs; it passes
			// all the same.
			h, old, _ := rotationWhoseNewKeyVanishes(t, c.grace, hooks.BeforeDelete)
			var found []Outcome
			for range 6 {
				h.clock.Add(time.Hour + time.Minute)
				for _, o := range h.engine.DeleteDue(context.Background()) {
					if o.Name == "ci-runner" {
						found = append(found, o)
					}
				}
				if _, ok := h.store.Get("ci", "ci-runner"); ok && h.record("ci-runner").Rotation == nil {
					break
				}
			}
			if r := h.record("ci-runner"); r.Rotation != nil {
				t.Fatalf("test premise: the rotation whose new key is gone is still on record: %+v", r.Rotation)
			}
			if !slices.Contains(h.api.live("ci-runner"), old) {
				t.Fatalf("the old key %s was deleted", old)
			}
			last := found[len(found)-1]
			if last.Err != nil || last.Decision.Reason != ReasonNewKeyVanished {
				t.Errorf("the deletion that found the new key gone reported %+v (err %v), want reason %q: nothing tells the daemon that the sinks hold a dead key until the name rotates again", last.Decision, last.Err, ReasonNewKeyVanished)
			}
		})
	}
}
