package rotation

import (
	"testing"
	"time"

	"github.com/rotatord/rotatord/secret"
	"github.com/rotatord/rotatord/sinks"
)

// TestCatchUpTakesNoSecretFromAFileACheckFoundEdited: during a grace
// period a check finds sink a edited by its consumer under the new key's
// id and sink b emptied: nothing can give the key back, and the loss waits
// for the deletion. A reload adds sink c meanwhile. The deletion first
// gives sink c the new key (catchUp): not the secret sink a's consumer
// wrote, which signs nothing.
func TestCatchUpTakesNoSecretFromAFileACheckFoundEdited(t *testing.T) {
	h := newHarness(t, 24*time.Hour)
	h.api.add("ci-runner", roleCI)
	h.fingerprintSinkA()
	h.policy.MaxAge = 30 * 24 * time.Hour
	h.engine.SetPolicies([]Policy{h.policy})
	h.pass(Options{Force: true})
	key := h.current("ci-runner")

	edited := secret.Value("edited-by-its-consumer")
	h.sinkA.put(sinks.Credential{Name: "ci-runner", KeyID: key, RoleID: roleCI, Secret: edited})
	h.sinkB.empty("ci-runner")
	h.clock.Add(checkAgain)
	h.pass(Options{})

	sinkC := newMemSink("c")
	h.policy.Sinks = append(h.policy.Sinks, sinkC)
	h.engine.SetPolicies([]Policy{h.policy})
	h.clock.Add(24 * time.Hour)
	h.pass(Options{}) // the grace period is over: the old key goes
	if got := sinkC.cred("ci-runner"); got.Secret == edited {
		t.Fatalf("sink c, added during the grace period, was given the secret sink a's consumer wrote under key %s", key)
	}
	h.pass(Options{})
	now := h.current("ci-runner")
	if now == key || sinkC.holds("ci-runner") != now || h.sinkA.holds("ci-runner") != now {
		t.Errorf("current key %s, sinks a and c hold %q and %q: want the loss's new key in every sink",
			now, h.sinkA.holds("ci-runner"), sinkC.holds("ci-runner"))
	}
}
