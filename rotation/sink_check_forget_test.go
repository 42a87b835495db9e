package rotation

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestSinkCheckForgetsANameWithItsRecord: names come and go (a CI job's
// key per run); what the process knows of their checks must go with their
// records, or a long-running daemon's memory grows with every name it
// ever saw.
func TestSinkCheckForgetsANameWithItsRecord(t *testing.T) {
	h := newHarness(t, 0)
	h.policy.SinkCheck = time.Hour
	h.engine.SetPolicies([]Policy{h.policy})
	for i := range 20 {
		h.api.add(fmt.Sprintf("ci-job-%d", i), roleCI)
	}
	h.pass(Options{Force: true}) // delivered: checked
	for _, name := range []string{"ci-job-0", "ci-job-1"} {
		h.sinkA.empty(name) // the job is over: its consumer and its key go
		h.sinkB.empty(name)
		for _, id := range h.api.live(name) {
			if err := h.api.DeleteKey(context.Background(), id); err != nil {
				t.Fatal(err)
			}
		}
	}
	for range 4 {
		h.clock.Add(h.engine.settleTime() + time.Minute)
		h.pass(Options{})
	}
	if _, ok := h.store.Get("ci", "ci-job-0"); ok {
		t.Fatal("setup: the record of a name with no key left is still there")
	}
	h.engine.sinkChecksMu.Lock()
	defer h.engine.sinkChecksMu.Unlock()
	for _, name := range []string{"ci-job-0", "ci-job-1"} {
		if _, ok := h.engine.sinkChecks[recordKey{"ci", name}]; ok {
			t.Errorf("the sink checks of %s are still in memory after its record was forgotten", name)
		}
	}
	if _, ok := h.engine.sinkChecks[recordKey{"ci", "ci-job-2"}]; !ok {
		t.Error("the sink checks of a name still managed were forgotten")
	}
}
