package rotation

import (
	"testing"

	"github.com/rotatord/rotatord/secret"
	"github.com/rotatord/rotatord/sinks"
)

// TestSinkCheckRepairsAFileEditedUnderTheCurrentKeyID: a file sink that
// fingerprints its content names the current key, but its secret was
// edited since rotatord wrote it: its consumer has no valid key. The check
// finds it changed, counts a loss and writes the secret back from the
// sink that still holds what rotatord wrote.
func TestSinkCheckRepairsAFileEditedUnderTheCurrentKeyID(t *testing.T) {
	h, key := fingerprintedRotation(t)
	good := h.sinkB.cred("ci-runner")

	h.sinkA.put(sinks.Credential{Name: "ci-runner", KeyID: key, RoleID: roleCI, Secret: secret.Value("edited-by-hand")})
	h.clock.Add(checkAgain)
	h.pass(Options{})

	got := h.sinkA.cred("ci-runner")
	if got.KeyID != key || got.Secret != good.Secret {
		t.Errorf("edited file holds key %s with the edited secret still: want the current key's secret back", got.KeyID)
	}
	if live := h.api.live("ci-runner"); len(live) != 1 || live[0] != key {
		t.Errorf("live keys %v, want %s alone: the other sink could give the key back", live, key)
	}
	if h.rec.checks("lost") != 1 {
		t.Errorf("checks counted %v, want the edited file as one loss", h.rec.sinkChecks)
	}
	// Repaired: the next check finds both sinks as rotatord wrote them.
	h.clock.Add(checkAgain)
	h.pass(Options{})
	if h.rec.checks("lost") != 1 {
		t.Errorf("checks counted %v after the repair, want no new loss", h.rec.sinkChecks)
	}
}
