package rotation

import (
	"testing"
	"time"
)

// TestNewKeyDeletedDuringGraceRotatesAgainOnceSettled: someone deletes the
// key a rotation delivered while its grace period (an hour) runs. The
// sinks hold a key that signs nothing and the old key is in no sink: once
// the API has shown the key gone for the settle time, a pass (here in a
// new process) rotates again instead of waiting out the grace period.
func TestNewKeyDeletedDuringGraceRotatesAgainOnceSettled(t *testing.T) {
	h := newHarness(t, time.Hour)
	old := h.api.add("ci-runner", roleCI)
	h.pass(Options{Force: true})
	dead := h.sinkA.holds("ci-runner")
	if dead == "" || dead == old {
		t.Fatalf("sink a holds %q after the rotation, want a new key", dead)
	}
	h.api.mu.Lock()
	delete(h.api.keys, dead)
	h.api.mu.Unlock()

	h.clock.Add(time.Minute)
	h.pass(Options{}) // the API's answers may lag: not gone yet
	if got := h.sinkA.holds("ci-runner"); got != dead {
		t.Fatalf("sink a holds %q one minute after the deletion, want still %s (within the settle time)", got, dead)
	}
	h.clock.Add(2 * time.Minute)
	h.newEngine()
	h.pass(Options{})
	live := h.api.live("ci-runner")
	if len(live) != 2 {
		t.Fatalf("live keys %v, want the old key %s and a new one", live, old)
	}
	for _, s := range []*memSink{h.sinkA, h.sinkB} {
		if got := s.holds("ci-runner"); got == dead || got == old || (got != live[0] && got != live[1]) {
			t.Errorf("sink %s holds %q, want the new live key (deleted %s, old %s)", s.label, got, dead, old)
		}
	}
	if r := h.record("ci-runner"); r.Rotation == nil || r.Rotation.DeleteAfter.Before(h.clock.Now().Add(time.Hour)) {
		t.Errorf("rotation %+v, want a new one whose grace period keeps the old key", r.Rotation)
	}
}
