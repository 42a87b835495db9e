package rotation

import (
	"testing"
	"time"
)

// TestSinkCheckLeavesAnAdoptedKeyToItsAge: a key rotatord finds (adopt:
// wait, the default) was never delivered to the policy's sinks. Its sinks
// hold nothing for the name, yet nothing was lost there: the check must
// not rotate it at once (its age counts from first sight), nor count a
// loss, which would page for every name on a first deployment.
func TestSinkCheckLeavesAnAdoptedKeyToItsAge(t *testing.T) {
	h := newHarness(t, 2*time.Hour)
	key := h.api.add("ci-runner", roleCI)
	h.policy.SinkCheck = time.Hour
	h.engine.SetPolicies([]Policy{h.policy})
	h.pass(Options{})
	h.clock.Add(checkAgain)
	h.pass(Options{})
	if live := h.api.live("ci-runner"); len(live) != 1 || live[0] != key {
		t.Errorf("live keys %v after the checks, want the adopted key %s alone until max_age", live, key)
	}
	if n := h.rec.checks("lost"); n != 0 {
		t.Errorf("%d losses counted for sinks rotatord never delivered to", n)
	}
	if n := h.logs.FilterMessage("a sink no longer holds the current key").Len(); n != 0 {
		t.Errorf("%d warnings of a lost key for sinks rotatord never delivered to", n)
	}
}
