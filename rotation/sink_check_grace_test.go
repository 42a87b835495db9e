package rotation

import (
	"slices"
	"testing"
	"time"
)

// rotatedWithGrace: ci-runner forced to rotate under sink_check: 1h, its
// old key kept for a day (the grace period): the rotation is delivered
// and waits for the deletion.
func rotatedWithGrace(t *testing.T) (h *harness, old, key string) {
	t.Helper()
	h = newHarness(t, 24*time.Hour)
	old = h.api.add("ci-runner", roleCI)
	h.policy.SinkCheck = time.Hour
	h.policy.MaxAge = 30 * 24 * time.Hour
	h.engine.SetPolicies([]Policy{h.policy})
	h.pass(Options{Force: true})
	rec := h.record("ci-runner")
	if rec.Rotation == nil || rec.CurrentKeyID == old {
		t.Fatalf("setup: want a rotation in its grace period, record %+v", rec)
	}
	return h, old, rec.CurrentKeyID
}

// TestSinkCheckRefillsASinkEmptiedDuringTheGracePeriod: a rotation's new
// key is delivered to both sinks, and its old key lives on for a day (the
// grace period). An hour later one sink is emptied. The check is due
// (sink_check: 1h): the sink gets the new key back from the other sink,
// not at the end of the grace period (or, with windows, days later when
// the deletion's window opens).
func TestSinkCheckRefillsASinkEmptiedDuringTheGracePeriod(t *testing.T) {
	h, _, key := rotatedWithGrace(t)

	h.clock.Add(30 * time.Minute)
	h.sinkA.empty("ci-runner")
	h.clock.Add(checkAgain)
	h.pass(Options{})
	if got := h.sinkA.holds("ci-runner"); got != key {
		t.Errorf("emptied sink holds %q during the grace period once a check was due, want the current key %s back", got, key)
	}
	if live := h.api.live("ci-runner"); len(live) != 2 {
		t.Errorf("live keys %v during the grace period, want the old and the new key, no third", live)
	}

	// The grace period ends: the old key goes, the new one stays, and no
	// later check finds anything to do.
	h.clock.Add(24 * time.Hour)
	h.pass(Options{})
	h.clock.Add(checkAgain)
	h.pass(Options{})
	if live := h.api.live("ci-runner"); len(live) != 1 || live[0] != key {
		t.Errorf("live keys %v after the grace period, want %s alone", live, key)
	}
	if h.sinkA.holds("ci-runner") != key || h.sinkB.holds("ci-runner") != key {
		t.Errorf("sinks hold %q and %q, want %s", h.sinkA.holds("ci-runner"), h.sinkB.holds("ci-runner"), key)
	}
	h.assertNoSecretLeak()
}

// TestSinkCheckLossDuringTheGracePeriodRotatesAfterTheDeletion: both
// sinks are emptied during the grace period. No sink can give the key
// back, and a third key would be one too many: the old key is deleted at
// the end of the grace period as planned, and the name then rotates for
// the loss, not at max_age.
func TestSinkCheckLossDuringTheGracePeriodRotatesAfterTheDeletion(t *testing.T) {
	h, old, key := rotatedWithGrace(t)

	h.sinkA.empty("ci-runner")
	h.sinkB.empty("ci-runner")
	h.clock.Add(checkAgain)
	h.pass(Options{})
	if live := h.api.live("ci-runner"); len(live) != 2 {
		t.Fatalf("live keys %v during the grace period, want the old and the new key, no third", live)
	}
	h.clock.Add(24 * time.Hour)
	h.pass(Options{})
	h.pass(Options{})
	live := h.api.live("ci-runner")
	if len(live) != 2 || slices.Contains(live, old) || !slices.Contains(live, key) {
		t.Fatalf("live keys %v after the grace period, want %s deleted and a new key beside %s", live, old, key)
	}
	now := h.current("ci-runner")
	if now == key || h.sinkA.holds("ci-runner") != now || h.sinkB.holds("ci-runner") != now {
		t.Errorf("current key %s, sinks hold %q and %q: want a new key in both sinks", now, h.sinkA.holds("ci-runner"), h.sinkB.holds("ci-runner"))
	}
}
