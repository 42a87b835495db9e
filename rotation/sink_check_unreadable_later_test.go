package rotation

import (
	"errors"
	"testing"
	"time"

	"github.com/rotatord/rotatord/internal/window"
)

// TestSinkCheckLossOutlivesACheckThatCannotReadTheSinks: both sinks of a
// name are emptied before the policy's one-hour window; the check finds
// the loss, and the name waits for the window. The first check in the
// window cannot read the sinks (a Vault restarting): that is no news of
// them, and must not forget the loss. Half an hour later they answer
// again, still empty, with no check due: the name rotates in its window,
// not at the first check after it closes (the next day's window).
func TestSinkCheckLossOutlivesACheckThatCannotReadTheSinks(t *testing.T) {
	h, key := sinkCheckHarness(t)
	var days [7]bool
	for d := range days {
		days[d] = true
	}
	h.policy.Windows = window.Set{{Days: days, Start: 9 * time.Hour, End: 10 * time.Hour, Zone: time.UTC}}
	h.policy.MaxAge = 30 * 24 * time.Hour
	h.engine.SetPolicies([]Policy{h.policy})

	h.clock.now = time.Date(2026, 12, 14, 8, 0, 0, 0, time.UTC)
	h.sinkA.empty("ci-runner")
	h.sinkB.empty("ci-runner")
	h.pass(Options{}) // the loss, outside the window
	if live := h.api.live("ci-runner"); len(live) != 1 || live[0] != key {
		t.Fatalf("setup: live keys %v: rotated outside the window", live)
	}

	unreachable := errors.New("connection refused")
	h.clock.now = time.Date(2026, 12, 14, 9, 5, 0, 0, time.UTC) // a check is due
	h.sinkA.mu.Lock()
	h.sinkA.failRead = unreachable
	h.sinkA.mu.Unlock()
	h.sinkB.mu.Lock()
	h.sinkB.failRead = unreachable
	h.sinkB.mu.Unlock()
	h.pass(Options{})

	h.sinkA.mu.Lock()
	h.sinkA.failRead = nil
	h.sinkA.mu.Unlock()
	h.sinkB.mu.Lock()
	h.sinkB.failRead = nil
	h.sinkB.mu.Unlock()
	h.clock.now = time.Date(2026, 12, 14, 9, 35, 0, 0, time.UTC) // in the window, no check due
	h.pass(Options{IgnoreBackoff: true})
	live := h.api.live("ci-runner")
	if len(live) != 1 || live[0] == key || h.sinkA.holds("ci-runner") != live[0] || h.sinkB.holds("ci-runner") != live[0] {
		t.Errorf("live keys %v, sinks hold %q and %q: want a new key in both sinks within the window",
			live, h.sinkA.holds("ci-runner"), h.sinkB.holds("ci-runner"))
	}
}
