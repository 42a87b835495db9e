package rotation

import (
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient"
)

// An API whose Date never moves (a proxy that replays a stale Date, a
// stopped clock): counted on that clock alone, the settle time never ends
// and a create that made no key holds its name in the search for good.
// This process's own listings, the settle time apart on its own clock,
// prove what the API's clock cannot: the intent is cleared and the name
// rotates.
func TestOrphanSearchEndsThoughTheAPIsDateIsFrozen(t *testing.T) {
	h := newHarness(t, 0)
	h.policy.AdoptRotate = true
	h.newEngine()
	frozen := h.clock.Now()
	h.api.serverNow = func() time.Time { return frozen }
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
	for range 10 {
		h.clock.Add(time.Minute)
		h.pass(Options{IgnoreBackoff: true})
	}
	if r := h.record("ci-runner"); r.Rotation != nil {
		t.Errorf("after 10 minutes of passes the lost create's intent is still on record (rotation %+v, last error %q)", r.Rotation, r.LastError)
	}
	if held := h.sinkA.holds("ci-runner"); held == "" {
		t.Errorf("sink a holds nothing, want the name rotated")
	}
	h.assertNoSecretLeak()
}
