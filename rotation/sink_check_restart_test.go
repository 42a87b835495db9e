package rotation

import (
	"testing"
	"time"
)

// TestSinkCheckLossWaitingForAWindowOutlivesARestart: a loss found
// outside the policy's windows waits for the next one; the process
// restarts meanwhile (an upgrade, a failover to another replica). The new
// process's first check must find the loss again, not take the emptied
// sinks for sinks rotatord never delivered to: the name rotates when the
// window opens.
func TestSinkCheckLossWaitingForAWindowOutlivesARestart(t *testing.T) {
	h, key := sinkCheckHarness(t)
	h.policy.Windows = weekdays09to16()
	h.policy.MaxAge = 30 * 24 * time.Hour
	h.engine.SetPolicies([]Policy{h.policy})
	h.clock.now = time.Date(2026, 12, 14, 8, 40, 0, 0, time.UTC) // a Monday, before the window
	h.sinkA.empty("ci-runner")
	h.sinkB.empty("ci-runner")
	h.pass(Options{})
	if live := h.api.live("ci-runner"); len(live) != 1 || live[0] != key {
		t.Fatalf("live keys %v: rotated outside the window", live)
	}
	h.newEngine()
	h.clock.now = time.Date(2026, 12, 14, 9, 1, 0, 0, time.UTC)
	h.pass(Options{})
	live := h.api.live("ci-runner")
	if len(live) != 1 || live[0] == key || h.sinkA.holds("ci-runner") != live[0] || h.sinkB.holds("ci-runner") != live[0] {
		t.Errorf("live keys %v, sinks hold %q and %q: want a new key delivered once the window opened, restart or not",
			live, h.sinkA.holds("ci-runner"), h.sinkB.holds("ci-runner"))
	}
}
