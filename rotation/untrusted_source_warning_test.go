package rotation

import (
	"testing"
	"time"

	"github.com/rotatord/rotatord/secret"
	"github.com/rotatord/rotatord/sinks"
)

// A sink a reload added waits for the name's next rotation when the only
// sink holding the key was changed since its delivery (its consumer
// rewrote it): that is said once per process, not at every pass of a
// daemon that passes every minute.
func TestUntrustedSourceWarnedOncePerProcess(t *testing.T) {
	h := newHarness(t, 0)
	h.api.add("ci-runner", roleCI)
	h.policy.Sinks = []sinks.Sink{fpSink{h.sinkA}}
	h.engine.SetPolicies([]Policy{h.policy})
	h.pass(Options{Force: true})
	key := h.sinkA.holds("ci-runner")
	h.sinkA.put(sinks.Credential{Name: "ci-runner", KeyID: key, Secret: secret.Value("rewritten by its consumer")})

	h.policy.Sinks = []sinks.Sink{fpSink{h.sinkA}, h.sinkB}
	h.engine.SetPolicies([]Policy{h.policy})
	for range 3 {
		h.clock.Add(time.Minute)
		h.pass(Options{})
	}
	if got := h.sinkB.holds("ci-runner"); got != "" {
		t.Fatalf("added sink holds %q copied from a sink changed since its delivery", got)
	}
	if n := h.logs.FilterMessage("not copying the current key from a sink changed since its delivery").Len(); n != 1 {
		t.Errorf("warned %d times over 3 passes, want once", n)
	}
	h.newEngine() // a restart says it again
	h.pass(Options{})
	if n := h.logs.FilterMessage("not copying the current key from a sink changed since its delivery").Len(); n != 1 {
		t.Errorf("warned %d times after a restart's first pass, want once", n)
	}
}
