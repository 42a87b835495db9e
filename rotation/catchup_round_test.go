package rotation

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rotatord/rotatord/state"
)

// wholeJournalReads counts the reads of every record at once (List or
// Each of all policies), as the index of the targets makes.
type wholeJournalReads struct {
	state.Journal
	n atomic.Int64
}

func (w *wholeJournalReads) List(policy string) []state.Record {
	if policy == "" {
		w.n.Add(1)
	}
	return w.Journal.List(policy)
}

// A round of deletions whose names each need a catch-up (a sink added in
// their grace period) reads the journal for the targets' owners once, as
// a pass does, not once a name: at 4,000 names that was 9.5 s, growing
// with the square of the names (found by review).
func TestACatchUpRoundReadsTheJournalOnce(t *testing.T) {
	h := newHarness(t, time.Hour)
	reads := &wholeJournalReads{}
	h.wrap = func(j state.Journal) state.Journal { reads.Journal = j; return reads }
	h.newEngine()
	const n = 50
	for i := range n {
		h.api.add(fmt.Sprintf("ci-%05d", i), roleCI)
	}
	h.pass(Options{Force: true})
	p := h.policy
	p.Sinks = append(p.Sinks, newMemSink("c")) // a sink added in the grace period
	if err := h.engine.SetPolicies([]Policy{p}); err != nil {
		t.Fatal(err)
	}
	h.clock.Add(2 * time.Hour)
	reads.n.Store(0)
	out := h.engine.DeleteDue(context.Background())
	if len(out) != n {
		t.Fatalf("%d outcomes, want %d", len(out), n)
	}
	for _, o := range out {
		if o.Err != nil {
			t.Fatalf("%s: %v", o.Name, o.Err)
		}
	}
	if got := reads.n.Load(); got != 1 {
		t.Errorf("the round read the whole journal %d times for %d names, want once", got, n)
	}
}
