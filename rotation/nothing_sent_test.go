package rotation

import (
	"errors"
	"testing"

	"github.com/rotatord/rotatord/sinks"
)

// TestWriteThatSentNothingRollsBackAtOnce: the first sink fails before the
// secret left the process (Vault went down between the probe and the
// write) and cannot be read either. The key was created by this process
// moments ago, so no sink can hold it: it is deleted at once, not kept
// until the sink answers again.
func TestWriteThatSentNothingRollsBackAtOnce(t *testing.T) {
	h := newHarness(t, 0)
	old := h.api.add("ci-runner", roleCI)
	down := errors.New("vault: dial tcp 127.0.0.1:8200: connect: connection refused")
	h.sinkA.failWrite = sinks.NothingSent(down)
	h.sinkA.failRead = down
	out := h.pass(Options{Force: true})
	if o := findOutcome(out, "ci-runner"); o.Err == nil {
		t.Fatalf("want the rotation failed: %+v", o)
	}
	if live := h.api.live("ci-runner"); len(live) != 1 || live[0] != old {
		t.Errorf("live keys %v, want only the old key %s", live, old)
	}
	if rec := h.record("ci-runner"); rec.Rotation != nil {
		t.Errorf("rotation kept: %+v", rec.Rotation)
	}
}

// TestWriteThatMaySendKeepsTheKeyWhileTheSinkIsDown: the same failure,
// not marked as having sent nothing (the data request may have reached
// Vault): the new key is kept, since the sink may hold it.
func TestWriteThatMaySendKeepsTheKeyWhileTheSinkIsDown(t *testing.T) {
	h := newHarness(t, 0)
	old := h.api.add("ci-runner", roleCI)
	down := errors.New("vault: write: connection reset by peer")
	h.sinkA.failWrite = down
	h.sinkA.failRead = down
	h.pass(Options{Force: true})
	if live := h.api.live("ci-runner"); len(live) != 2 {
		t.Errorf("live keys %v, want the old key %s and the new one the sink may hold", live, old)
	}
}
