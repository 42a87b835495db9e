package rotation

import (
	"testing"

	"github.com/rotatord/rotatord/secret"
	"github.com/rotatord/rotatord/sinks"
)

// TestSinkAddedHoldingTheKeyIDWithAnotherSecretIsWritten: a reload adds a
// sink whose target already names the current key, with a secret that is
// not the key's (a hand-made copy with a typo). Another sink gives the
// real secret back, so the added sink's is wrong: it is written, not
// taken as held. Taken as held, its consumer keeps a key that signs
// nothing, and once the other sinks are emptied the check copies that
// secret to them too.
func TestSinkAddedHoldingTheKeyIDWithAnotherSecretIsWritten(t *testing.T) {
	t.Run("added last", func(t *testing.T) { addedWithAnotherSecret(t, false) })
	t.Run("added first", func(t *testing.T) { addedWithAnotherSecret(t, true) })
}

func addedWithAnotherSecret(t *testing.T, first bool) {
	h, key := sinkCheckHarness(t)
	real := h.sinkA.held["ci-runner"].Secret
	sinkC := newMemSink("c")
	sinkC.held["ci-runner"] = sinks.Credential{Name: "ci-runner", KeyID: key, Secret: secret.Value("typo")}
	h.policy.Sinks = toSinks(h.sinkA, h.sinkB, sinkC)
	if first {
		h.policy.Sinks = toSinks(sinkC, h.sinkA, h.sinkB)
	}
	h.engine.SetPolicies([]Policy{h.policy})
	h.pass(Options{})
	if got := sinkC.held["ci-runner"]; got.KeyID != key || got.Secret != real {
		t.Errorf("added sink holds %s with the wrong secret after the pass, want the key's secret written there", got.KeyID)
	}

	h.sinkA.empty("ci-runner")
	h.sinkB.empty("ci-runner")
	h.clock.Add(checkAgain)
	h.pass(Options{})
	for _, s := range []*memSink{h.sinkA, h.sinkB, sinkC} {
		s.mu.Lock()
		got := s.held["ci-runner"]
		s.mu.Unlock()
		if live := h.api.live("ci-runner"); len(live) != 1 || got.KeyID != live[0] {
			t.Errorf("sink %s holds %s, live keys %v", s.label, got.KeyID, live)
			continue
		}
		if got.KeyID == key && got.Secret != real {
			t.Errorf("sink %s holds the current key with a secret that is not the key's", s.label)
		}
	}
}
