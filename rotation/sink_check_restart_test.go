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
	h, key := lossBeforeTheWindow(t)
	h.newEngine()
	h.clock.now = time.Date(2026, 12, 14, 9, 1, 0, 0, time.UTC)
	h.pass(Options{})
	live := h.api.live("ci-runner")
	if len(live) != 1 || live[0] == key || h.sinkA.holds("ci-runner") != live[0] || h.sinkB.holds("ci-runner") != live[0] {
		t.Errorf("live keys %v, sinks hold %q and %q: want a new key delivered once the window opened, restart or not",
			live, h.sinkA.holds("ci-runner"), h.sinkB.holds("ci-runner"))
	}
}
