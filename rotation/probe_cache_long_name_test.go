package rotation

import (
	"context"
	"strings"
	"testing"

	"github.com/rotatord/rotatord/sinks"
	"github.com/rotatord/rotatord/sinks/file"
	"github.com/rotatord/rotatord/state"
)

// A policy delivering to a memory sink and then a real file sink
// (<dir>/<name>.cred). A 255-byte key name is valid for the API, but its
// target (260 bytes) is not a valid file name: no write of it can ever
// succeed. (A 240-byte one, whose target fits but whose temp file name
// did not, was the case here until long targets got shorter temp file
// names: it is written now.) Before 042bf04 the probe created the temp
// file and failed, so no key was created. With the probe cache, once
// another name of the directory was probed within 10 s, the probe must not
// pass: a key would be created, delivered to the memory sink, and the file
// sink's write fail on every pass: the rotation stuck with a live new key
// and a consumer on the old one.
func TestProbeCacheLongNameCreatesAKeyThatCannotBeDelivered(t *testing.T) {
	h := newHarness(t, 0)
	dir := t.TempDir()
	fs := fileSinkWith(t, dir+"/{{.Name}}.cred", file.Options{Format: file.FormatEnv})
	h.policy.Sinks = []sinks.Sink{h.sinkA, fs}
	long := "ci-" + strings.Repeat("a", 252)
	old := h.api.add(long, roleCI)
	h.policy.AdoptRotate = true
	h.engine.SetPolicies([]Policy{h.policy})
	created := h.api.n

	// Another name of the same directory was probed a moment ago (in a
	// real pass: any other name of the policy).
	if err := fs.Probe(context.Background(), "ci-other"); err != nil {
		t.Fatal(err)
	}
	out := h.pass(Options{Force: true})
	t.Logf("outcome: %v", findOutcome(out, long).Err)
	if h.api.n != created {
		live := h.api.live(long)
		r := h.record(long)
		t.Errorf("a key was created for a name the file sink can never be written for: live=%v (old %s), sink a holds %q, phase %v",
			live, old, h.sinkA.holds(long), phaseOf(r))
	}
	h.assertNoSecretLeak()
}

func phaseOf(r state.Record) any {
	if r.Rotation == nil {
		return "none"
	}
	return r.Rotation.Phase
}
