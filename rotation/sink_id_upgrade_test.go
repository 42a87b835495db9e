package rotation

import (
	"errors"
	"testing"
)

// Issue 15's fix changed the Kubernetes Secret sink's Target from
// "ns/name" to "ns/name@https://server", so its journal id (sinkID) changes
// on upgrade. A rotation interrupted with its new key already in a sink
// (here: sink a wrote it, sink b failed) is recovered after the upgrade.
// The journal recorded the sinks under their old ids; holds() says a sink
// it never recorded cannot hold a key newer than the intent, without
// reading it: every sink "proves" it does not hold the new key, and the
// recovery rolls back: it deletes the new key from the API while sink a
// still serves it. The consumers of that sink are cut off, and nothing
// repairs the sink until the next rotation (max_age later).
func TestSinkTargetChangeOnUpgradeDeletesDeliveredKey(t *testing.T) {
	h := newHarness(t, 0)
	old := h.api.add("ci-runner", roleCI)
	h.sinkB.failWrite = errors.New("vault sealed")
	h.pass(Options{Force: true})
	newID := h.sinkA.holds("ci-runner")
	if newID == old || newID == "" {
		t.Fatalf("sink a holds %q", newID)
	}
	// Upgrade: the same sinks, now named with their cluster.
	h.sinkA.label, h.sinkB.label = "a@https://10.96.0.1:443", "b@https://10.96.0.1:443"
	h.sinkB.failWrite = nil
	h.clock.Add(Backoff(1))
	h.newEngine()
	h.pass(Options{})
	live := h.api.live("ci-runner")
	alive := false
	for _, id := range live {
		alive = alive || id == newID
	}
	if got := h.sinkA.holds("ci-runner"); got == newID && !alive {
		t.Errorf("after the upgrade the new key %s was deleted while sink a still holds it (live keys: %v)", newID, live)
	}
}
