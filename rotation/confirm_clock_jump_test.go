package rotation

import (
	"context"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient"
)

// TestClockJumpDuringConfirmationKeepsALateCreateOnRecord: the API applies
// a create a few answers late (until then the key is missing from listings,
// answers 404 to GET and "already gone" to DELETE), and the wall clock
// jumps an hour forward while rotatord waits for the key to show. The jump
// is no time for the API to settle: the key is not given up on, it shows,
// and the name never has more than two live keys, nor a live key that no
// sink holds and rotatord does not know.
func TestClockJumpDuringConfirmationKeepsALateCreateOnRecord(t *testing.T) {
	h := newHarness(t, 0)
	h.api.add("ci-runner", roleCI)
	h.pass(Options{Force: true})
	working := h.sinkA.holds("ci-runner")

	var late string
	h.api.createHook = func(k apiclient.Key) error {
		h.api.mu.Lock()
		defer h.api.mu.Unlock()
		late = k.ID
		if h.api.hidden == nil {
			h.api.hidden = map[string]int{}
		}
		h.api.hidden[k.ID] = 4
		h.api.zombies = map[string]bool{k.ID: true} // DELETE: "not in organization"
		return nil
	}
	jumped := false
	h.engine.sleep = func(ctx context.Context, d time.Duration) error {
		if !jumped {
			jumped = true
			h.clock.Add(time.Hour) // the wall clock is stepped
		}
		h.clock.Add(d)
		if h.api.hidden[late] == 0 {
			h.api.zombies = nil // applied: it signs, and DELETE deletes it
		}
		return ctx.Err()
	}
	h.pass(Options{Force: true})
	h.api.createHook = nil
	h.api.mu.Lock()
	h.api.zombies = nil // applied by now in any case
	h.api.mu.Unlock()

	for range 3 {
		h.clock.Add(90 * time.Second)
		h.pass(Options{Force: true, IgnoreBackoff: true})
	}
	if h.api.maxLive > 2 {
		t.Errorf("name had %d live keys at once, want at most 2 (live now: %v)", h.api.maxLive, h.api.live("ci-runner"))
	}
	holds := map[string]bool{h.sinkA.holds("ci-runner"): true, h.sinkB.holds("ci-runner"): true}
	for _, id := range h.api.live("ci-runner") {
		if !holds[id] && id != working {
			if r := h.record("ci-runner"); r.Rotation == nil || (r.Rotation.NewKeyID != id && !contains(r.Rotation.OldKeyIDs, id)) {
				t.Errorf("key %s (the late create %s) is live, in no sink, and not on record: %+v", id, late, r.Rotation)
			}
		}
	}
}

func contains(ids []string, id string) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}
