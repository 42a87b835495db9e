package rotation

import (
	"testing"
	"time"

	"github.com/rotatord/rotatord/secret"
	"github.com/rotatord/rotatord/sinks"
)

// editedOutsideWindow: sink a (a file that fingerprints its content) is
// rewritten by its consumer under the current key's id with a secret of
// its own, sink b is emptied, and the check finds both lost on a Monday
// before the policy's window: no sink can give the key back, the name
// waits for the window to rotate.
func editedOutsideWindow(t *testing.T) (*harness, string) {
	t.Helper()
	h := newHarness(t, 0)
	h.api.add("ci-runner", roleCI)
	h.fingerprintSinkA()
	h.policy.MaxAge = 30 * 24 * time.Hour
	h.engine.SetPolicies([]Policy{h.policy})
	h.clock.now = time.Date(2026, 12, 11, 10, 0, 0, 0, time.UTC) // a Friday, in the window
	h.pass(Options{Force: true})
	key := h.api.live("ci-runner")[0]
	h.policy.Windows = weekdays09to16()
	h.engine.SetPolicies([]Policy{h.policy})

	h.clock.now = time.Date(2026, 12, 14, 8, 0, 0, 0, time.UTC) // the Monday after, before the window
	h.sinkA.put(sinks.Credential{Name: "ci-runner", KeyID: key, RoleID: roleCI, Secret: secret.Value("edited-by-its-consumer")})
	h.sinkB.empty("ci-runner")
	h.pass(Options{})
	if live := h.api.live("ci-runner"); len(live) != 1 || live[0] != key {
		t.Fatalf("setup: live keys %v: rotated outside the window", live)
	}
	return h, key
}

// assertEditedLossRepaired: once the window opened, both sinks hold a
// new key, and sink b never got the secret sink a's consumer wrote.
func assertEditedLossRepaired(t *testing.T, h *harness, key string) {
	t.Helper()
	gotB := h.sinkB.cred("ci-runner")
	if gotB.Secret == secret.Value("edited-by-its-consumer") {
		t.Errorf("sink b was given the secret sink a's consumer wrote under key %s", key)
	}
	live := h.api.live("ci-runner")
	if len(live) != 1 || live[0] == key || h.sinkA.holds("ci-runner") != live[0] || gotB.KeyID != live[0] {
		t.Errorf("live keys %v, sinks hold %q and %q: want a new key in both once the window opened",
			live, h.sinkA.holds("ci-runner"), gotB.KeyID)
	}
}

// TestSinkCheckEditedFileWaitingForAWindowIsNoSourceAtTheNextPass: the
// passes between the check and the window (no check due) must not take
// the edited file for one holding the key, nor copy its secret to sink b:
// the loss stands until the window opens, and the name rotates then.
func TestSinkCheckEditedFileWaitingForAWindowIsNoSourceAtTheNextPass(t *testing.T) {
	h, key := editedOutsideWindow(t)
	h.clock.now = time.Date(2026, 12, 14, 8, 30, 0, 0, time.UTC) // a pass with no check due
	h.pass(Options{})
	gotB := h.sinkB.cred("ci-runner")
	if gotB.Secret == secret.Value("edited-by-its-consumer") {
		t.Errorf("a pass between the check and the window gave sink b the secret sink a's consumer wrote")
	}
	h.clock.now = time.Date(2026, 12, 14, 9, 1, 0, 0, time.UTC) // the window opens; the check is not due yet
	h.pass(Options{})
	assertEditedLossRepaired(t, h, key)
}

// TestSinkCheckEditedFileWaitingForAWindowOutlivesARestart: the process
// restarts before the window opens: its first check must still take the
// edited file for lost (the record kept its delivery with no key id), not
// for a sink holding the key.
func TestSinkCheckEditedFileWaitingForAWindowOutlivesARestart(t *testing.T) {
	h, key := editedOutsideWindow(t)
	h.newEngine()
	h.clock.now = time.Date(2026, 12, 14, 9, 1, 0, 0, time.UTC)
	h.pass(Options{})
	assertEditedLossRepaired(t, h, key)
}
