package rotation

import (
	"testing"

	"github.com/rotatord/rotatord/secret"
	"github.com/rotatord/rotatord/sinks"
)

// TestSinkCheckFindsAnEditedFileOfAKeyFoundInPlace: on a first deployment
// the key rotatord finds (adopt: wait) is already in both sinks, written
// there by whatever managed it before; the first pass records that they
// hold it. Later sink a's consumer rewrites its file under the key's id
// with a secret of its own, and sink b is emptied. The check must find
// sink a changed since it was first seen, as it would a file rotatord
// wrote: not copy its secret to sink b, whose consumer would be left with
// a key that does not sign (read back as held by every later check).
func TestSinkCheckFindsAnEditedFileOfAKeyFoundInPlace(t *testing.T) {
	h := newHarness(t, 0)
	key := h.api.add("ci-runner", roleCI)
	good := sinks.Credential{Name: "ci-runner", KeyID: key, RoleID: roleCI, Secret: secret.Value("the-secret-of-the-key-found")}
	for _, s := range []*memSink{h.sinkA, h.sinkB} {
		s.mu.Lock()
		s.held["ci-runner"] = good
		s.mu.Unlock()
	}
	h.fingerprintSinkA()
	h.engine.SetPolicies([]Policy{h.policy})
	h.pass(Options{})
	if d, ok := h.record("ci-runner").Delivered.Get(sinkID(fpSink{h.sinkA}, "ci-runner")); !ok || d.KeyID != key {
		t.Fatalf("setup: sink a not recorded as holding the key found: %+v, %v", d, ok)
	}

	h.sinkA.put(sinks.Credential{Name: "ci-runner", KeyID: key, RoleID: roleCI, Secret: secret.Value("edited-by-its-consumer")})
	h.sinkB.empty("ci-runner")
	h.clock.Add(checkAgain)
	h.pass(Options{})

	gotB := h.sinkB.cred("ci-runner")
	if gotB.Secret == secret.Value("edited-by-its-consumer") {
		t.Fatalf("sink b was given the secret sink a's consumer wrote under key %s", key)
	}
	live := h.api.live("ci-runner")
	if len(live) != 1 || live[0] == key || h.sinkA.holds("ci-runner") != live[0] || gotB.KeyID != live[0] {
		t.Errorf("live keys %v, sinks hold %q and %q: want a new key in both", live, h.sinkA.holds("ci-runner"), gotB.KeyID)
	}
}
