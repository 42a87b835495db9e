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
	h, _ := rewrittenSourceBesideAnAddedSink(t)
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

// Said once per key: after a rotation, the consumer that rewrites its file
// again under the new key leaves a sink added since waiting again, and
// the log says why again (a daemon runs for months).
func TestUntrustedSourceWarnedAgainForANewKey(t *testing.T) {
	h, first := rewrittenSourceBesideAnAddedSink(t)
	h.clock.Add(time.Minute)
	h.pass(Options{})
	const msg = "not copying the current key from a sink changed since its delivery"
	if n := h.logs.FilterMessage(msg).Len(); n != 1 {
		t.Fatalf("setup: warned %d times, want once", n)
	}

	// A rotation writes both sinks; then sink b leaves the policy and
	// comes back empty, and the consumer rewrites sink a again.
	h.clock.Add(time.Minute)
	h.pass(Options{Force: true})
	second := h.sinkA.holds("ci-runner")
	if second == first || h.sinkB.holds("ci-runner") != second {
		t.Fatalf("setup: the rotation left sinks with %q and %q", second, h.sinkB.holds("ci-runner"))
	}
	h.policy.Sinks = []sinks.Sink{fpSink{h.sinkA}}
	h.engine.SetPolicies([]Policy{h.policy})
	h.clock.Add(time.Minute)
	h.pass(Options{})
	h.sinkB.empty("ci-runner")
	h.sinkA.put(sinks.Credential{Name: "ci-runner", KeyID: second, Secret: secret.Value("rewritten again")})
	h.policy.Sinks = []sinks.Sink{fpSink{h.sinkA}, h.sinkB}
	h.engine.SetPolicies([]Policy{h.policy})
	h.clock.Add(time.Minute)
	h.pass(Options{})
	if got := h.sinkB.holds("ci-runner"); got != "" {
		t.Fatalf("added sink holds %q copied from a sink changed since its delivery", got)
	}
	if n := h.logs.FilterMessage(msg).Len(); n != 2 {
		t.Errorf("warned %d times, want again for the new key's sink (2)", n)
	}
}

// rewrittenSourceBesideAnAddedSink: ci-runner rotated into the
// fingerprinting sink a alone, whose consumer then rewrote it under the
// same key id; a reload adds sink b. key is the key a names.
func rewrittenSourceBesideAnAddedSink(t *testing.T) (h *harness, key string) {
	t.Helper()
	h = newHarness(t, 0)
	h.api.add("ci-runner", roleCI)
	h.policy.Sinks = []sinks.Sink{fpSink{h.sinkA}}
	h.engine.SetPolicies([]Policy{h.policy})
	h.pass(Options{Force: true})
	key = h.sinkA.holds("ci-runner")
	h.sinkA.put(sinks.Credential{Name: "ci-runner", KeyID: key, Secret: secret.Value("rewritten by its consumer")})
	h.policy.Sinks = []sinks.Sink{fpSink{h.sinkA}, h.sinkB}
	h.engine.SetPolicies([]Policy{h.policy})
	return h, key
}
