package rotation

import (
	"slices"
	"testing"
	"time"

	"github.com/rotatord/rotatord/secret"
	"github.com/rotatord/rotatord/sinks"
)

// Two live keys of a managed name and role, no rotation in flight: someone
// made the second key by hand (anyone allowed to create keys chooses the
// name), and the first sink's file, which its consumer owns and can
// write, now names that key with a secret that is not its own. The other
// sink and the record still agree on the current key. Adopting "the first
// sink's key" would copy the forged secret into the other sink and delete
// the current key after the grace period: every consumer without a valid
// key. The key the record names as current, which a sink still holds with
// its secret, is the one kept; the key made by hand is retired.
func TestAdoptionKeepsTheRecordedKeyASinkStillHoldsOverAForgedSink(t *testing.T) {
	h := newHarness(t, time.Hour)
	h.api.add("ci-runner", roleCI)
	h.pass(Options{Force: true}) // adopt, then rotate: both sinks get a new key
	h.clock.Add(2 * time.Hour)
	h.pass(Options{}) // the old key goes
	cur := h.record("ci-runner").CurrentKeyID
	good := h.sinkB.held["ci-runner"]
	if good.KeyID != cur || h.sinkA.held["ci-runner"].KeyID != cur || len(h.api.live("ci-runner")) != 1 {
		t.Fatalf("setup: sinks hold %s and %s, record %s, live %v", h.sinkA.held["ci-runner"].KeyID, good.KeyID, cur, h.api.live("ci-runner"))
	}

	byHand := h.api.add("ci-runner", roleCI)
	h.sinkA.held["ci-runner"] = sinks.Credential{Name: "ci-runner", KeyID: byHand, RoleID: roleCI, Secret: secret.Value("forged-not-the-secret-of-the-key")}
	h.pass(Options{})

	if got := h.sinkB.held["ci-runner"]; got.KeyID != cur || got.Secret != good.Secret {
		t.Errorf("sink b was given %s: the forged credential of another sink replaced the current key %s", got.KeyID, cur)
	}
	r := h.record("ci-runner")
	if r.CurrentKeyID != cur {
		t.Errorf("the record's current key is %s, want %s (held by sink b and on record)", r.CurrentKeyID, cur)
	}
	if r.Rotation != nil && slices.Contains(r.Rotation.OldKeyIDs, cur) {
		t.Errorf("the current key %s is scheduled for deletion: %v", cur, r.Rotation.OldKeyIDs)
	}
	// The grace period, then the wait an adopted rotation's confirmation
	// takes in this process.
	h.clock.Add(2 * time.Hour)
	h.pass(Options{})
	h.clock.Add(time.Minute)
	h.pass(Options{})
	if !slices.Contains(h.api.live("ci-runner"), cur) {
		t.Fatalf("the current key %s, which sink b holds, was deleted", cur)
	}
	if got := h.sinkA.held["ci-runner"]; got.KeyID != cur || got.Secret != good.Secret {
		t.Errorf("sink a holds %s, want the current key %s back", got.KeyID, cur)
	}
	if slices.Contains(h.api.live("ci-runner"), byHand) {
		t.Errorf("the key made by hand, which no sink holds with its secret, is still live")
	}
}
