package rotation

import (
	"errors"
	"testing"

	"github.com/rotatord/rotatord/secret"
	"github.com/rotatord/rotatord/sinks"
)

// A sink someone else took over between two rotations (a Kubernetes Secret
// replaced by one rotatord does not own, a file now another tool's) no
// longer holds the current key, and rotatord may not write there: neither a
// copy nor a new key can give it back. The check reports the loss and
// leaves the name alone; a rotation would fail at that sink's probe at
// every backoff, and run on_failure each time.
func TestSinkCheckReportsALossItMayNotRepairWithoutRotating(t *testing.T) {
	h, key := sinkCheckHarness(t)
	notOurs := errors.New("Secret default/ci-runner: Secret is not managed by rotatord")
	h.sinkB.put(sinks.Credential{Name: "ci-runner", KeyID: "EXOtheirs", Secret: secret.Value("theirs")})
	h.sinkB.mu.Lock()
	h.sinkB.failProbe, h.sinkB.failWrite = notOurs, sinks.NothingSent(notOurs)
	h.sinkB.mu.Unlock()

	for range 3 {
		h.clock.Add(checkAgain)
		for _, o := range h.pass(Options{}) {
			if o.Name == "ci-runner" && (o.Err != nil || o.Decision.Action != ActionNone) {
				t.Errorf("outcome %+v (err %v): a loss no rotation can repair must not start one", o.Decision, o.Err)
			}
		}
	}
	if live := h.api.live("ci-runner"); len(live) != 1 || live[0] != key {
		t.Errorf("live keys %v, want %s alone", live, key)
	}
	if r := h.record("ci-runner"); r.Failures != 0 {
		t.Errorf("record counts %d failures (%s), want none", r.Failures, r.LastError)
	}
	if got := h.sinkA.holds("ci-runner"); got != key {
		t.Errorf("the other sink holds %q, want %s", got, key)
	}
	if h.rec.checks("lost") != 3 {
		t.Errorf("checks counted %v, want the loss counted at each of the 3 checks", h.rec.sinkChecks)
	}
	if n := h.logs.FilterMessageSnippet("rotatord may not write there").Len(); n != 3 {
		t.Errorf("%d warnings that the sink cannot be repaired, want one per check (3)", n)
	}

	// Once the sink is rotatord's to write again (the other owner gone),
	// the next check gives it the key back.
	h.sinkB.mu.Lock()
	h.sinkB.failProbe, h.sinkB.failWrite = nil, nil
	h.sinkB.mu.Unlock()
	h.sinkB.empty("ci-runner")
	h.clock.Add(checkAgain)
	h.pass(Options{})
	if got := h.sinkB.holds("ci-runner"); got != key {
		t.Errorf("sink holds %q once writable again, want %s copied back", got, key)
	}
	h.assertNoSecretLeak()
}
