package rotation

import (
	"errors"
	"testing"
)

// TestSinkDownAtTheProbeCountsASinkWriteFailure: issue #4 prescribes that Vault
// down, sealed or refusing makes the sink write fail and that "the failure
// shows in rotatord_sink_writes_total{result="failure"}". A sink that is
// down before the rotation starts fails at the probe, before any key is
// made: that too is a failed delivery, counted as one.
func TestSinkDownAtTheProbeCountsASinkWriteFailure(t *testing.T) {
	h := newHarness(t, 0)
	h.api.add("ci-runner", roleCI)
	h.sinkA.failProbe = errors.New("vault: dial tcp 127.0.0.1:8200: connect: connection refused")
	out := h.pass(Options{Force: true})
	if len(out) == 0 || out[0].Err == nil {
		t.Fatalf("the rotation should fail: %+v", out)
	}
	h.rec.mu.Lock()
	defer h.rec.mu.Unlock()
	if h.rec.failed == 0 {
		t.Fatalf("rotation failure not recorded")
	}
	if h.rec.sinkFailed == 0 {
		t.Errorf("sink down: rotatord_sink_writes_total{result=\"failure\"} not incremented (sinkFailed=%d, rotations failed=%d)", h.rec.sinkFailed, h.rec.failed)
	}
}
