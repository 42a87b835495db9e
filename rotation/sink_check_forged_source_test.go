package rotation

import (
	"testing"

	"github.com/rotatord/rotatord/secret"
	"github.com/rotatord/rotatord/sinks"
)

// TestSinkCheckCopiesNoSecretASinkChangedSinceItsDelivery: sink a is a
// file its consumer owns; it rewrote it with the current key's id and a
// secret of its own (or a broken one). Then sink b, another consumer's,
// is emptied. The check must not give sink b the secret of sink a: sink a
// no longer holds what rotatord wrote there (its fingerprint says so), and
// sink b's consumer would be left with a key that does not sign, which
// every later check reads back as held. With no sink to trust, the name
// rotates: both sinks get a new key.
func TestSinkCheckCopiesNoSecretASinkChangedSinceItsDelivery(t *testing.T) {
	h, key := fingerprintedRotation(t)
	if d, ok := h.record("ci-runner").Delivered.Get(sinkID(fpSink{h.sinkA}, "ci-runner")); !ok || d.Fingerprint == "" {
		t.Fatalf("setup: no fingerprint recorded for sink a: %+v", d)
	}

	h.sinkA.put(sinks.Credential{Name: "ci-runner", KeyID: key, RoleID: roleCI, Secret: secret.Value("forged-not-the-secret-of-the-key")})
	h.sinkB.empty("ci-runner")
	h.clock.Add(checkAgain)
	h.pass(Options{})

	got := h.sinkB.cred("ci-runner")
	if got.Secret == secret.Value("forged-not-the-secret-of-the-key") {
		t.Fatalf("sink b was given the secret sink a's consumer wrote under key %s", key)
	}
	live := h.api.live("ci-runner")
	if len(live) != 1 || live[0] == key || got.KeyID != live[0] || h.sinkA.holds("ci-runner") != live[0] {
		t.Errorf("live keys %v, sinks hold %q and %q: want a new key in both", live, h.sinkA.holds("ci-runner"), got.KeyID)
	}
}
