package rotation

import (
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient"
)

// `rotatord once` from cron: each run is a new process that searches once.
// A create whose answer was lost and that made no key is settled on the
// API's clock, which the runs share: the intent is cleared within a few
// runs, and the name rotates, even when the API's clock steps back once.
func TestOrphanSearchFromCronEndsInAFewRuns(t *testing.T) {
	h := newHarness(t, 0)
	h.policy.AdoptRotate = true
	server := h.clock.Now().Add(-7 * time.Hour) // another clock than this host's
	h.api.serverNow = func() time.Time { return server }
	h.newEngine()
	h.api.add("ci-runner", roleCI)
	h.api.createHook = func(k apiclient.Key) error { // the answer lost, and no key made
		h.api.mu.Lock()
		delete(h.api.keys, k.ID)
		h.api.mu.Unlock()
		return apiclient.ErrAmbiguousCreate
	}
	h.pass(Options{})
	if h.record("ci-runner").Rotation == nil {
		t.Fatalf("setup: want an intent on record after a lost create answer")
	}
	h.api.createHook = nil
	for run := range 8 {
		h.clock.Add(time.Minute)
		server = server.Add(time.Minute)
		if run == 1 {
			server = server.Add(-time.Hour)
		}
		h.newEngine()
		h.pass(Options{IgnoreBackoff: true})
	}
	if r := h.record("ci-runner"); r.Rotation != nil {
		t.Errorf("after 8 runs a minute apart the lost create's intent is still on record (rotation %+v, last error %q)", r.Rotation, r.LastError)
	}
	if held := h.sinkA.holds("ci-runner"); held == "" {
		t.Errorf("sink a holds nothing, want the name rotated")
	}
	h.assertNoSecretLeak()
}
