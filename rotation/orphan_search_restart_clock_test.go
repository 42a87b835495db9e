package rotation

import (
	"slices"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient"
)

// A create whose answer was lost, then a kill, and a restart whose clock is
// ahead of the killed process's by more than the settle time; the API
// applies the create late, after the restarted process has looked once.
// The settle time is counted from the intent, on the killed process's
// clock: on the new one it seems over at the first look, and the intent
// was cleared though no listing had been taken the settle time after the
// create. The key then showed, whose secret nobody has, on a name whose
// sinks hold nothing yet: "two live keys already", for good. The search
// now also counts the settle time on the API's clock (its answers' Date),
// which the restart does not move.
func TestLateCreateAfterARestartWithTheClockAheadIsStillFound(t *testing.T) {
	h := newHarness(t, 0)
	h.policy.AdoptRotate = true // sinks empty: the first rotation delivers the first key
	h.newEngine()
	// The API's clock: it moves with the time that passes, not with the
	// restarted process's clock.
	server := h.clock.Now()
	h.api.serverNow = func() time.Time { return server }
	first := h.api.add("ci-runner", roleCI)
	var orphan string
	h.api.createHook = func(k apiclient.Key) error {
		orphan = k.ID
		// Applied late: not in the search right after the create, nor in
		// the restarted process's first pass (its listing and its search).
		h.api.hide(k.ID, 3)
		return apiclient.ErrAmbiguousCreate
	}
	h.pass(Options{})
	if orphan == "" || h.record("ci-runner").Rotation == nil {
		t.Fatalf("setup: want an intent on record after a lost create answer (orphan %q, record %+v)", orphan, h.record("ci-runner"))
	}
	h.api.createHook = nil

	// The restart: a new process whose clock is 3 minutes ahead.
	h.clock.Add(3 * time.Minute)
	h.newEngine()
	for range 6 {
		h.pass(Options{IgnoreBackoff: true})
		h.clock.Add(time.Minute)
		server = server.Add(time.Minute)
	}
	if slices.Contains(h.api.live("ci-runner"), orphan) {
		r := h.record("ci-runner")
		t.Errorf("the key %s of the lost create is still alive, held by no sink (live %v, current %s, rotation %+v)",
			orphan, h.api.live("ci-runner"), r.CurrentKeyID, r.Rotation)
	}
	if held := h.sinkA.holds("ci-runner"); held == "" || !slices.Contains(h.api.live("ci-runner"), held) {
		t.Errorf("sink a holds %q, want a live key of ci-runner (live %v, first key %s)", held, h.api.live("ci-runner"), first)
	}
	h.assertNoSecretLeak()
}
