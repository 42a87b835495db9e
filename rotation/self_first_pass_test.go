package rotation

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rotatord/rotatord/state"
)

// listCounter is a journal that counts List calls and their records.
type listCounter struct {
	state.Journal
	lists, listed atomic.Int64
}

func (c *listCounter) List(policy string) []state.Record {
	c.lists.Add(1)
	out := c.Journal.List(policy)
	c.listed.Add(int64(len(out)))
	return out
}

func (c *listCounter) Each(policy string, fn func(r *state.Record)) {
	c.Journal.(interface {
		Each(string, func(*state.Record))
	}).Each(policy, fn)
}

// TestFirstPassAfterStartScansJournalPerName: quietRecords asks
// Engine.owner for every quiet candidate before the pass has noted the own
// key's name and role (noteSelf runs after the listing). With a Self
// policy installed, selfMatch then falls back to listing the journal (a
// copy, with a capacity of every record) once per candidate: O(N) Lists
// on the first pass of every process. The pass of 11f5c8c called owner
// after noteSelf and listed nothing.
func TestFirstPassAfterStartScansJournalPerName(t *testing.T) {
	n := 1500
	if s := os.Getenv("REVIEW17_N"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	sh := newSelfHarness(t, 0)
	for i := range n {
		sh.api.add(fmt.Sprintf("ci-%05d", i), roleCI)
	}
	sh.pass(Options{})
	sh.clock.Add(time.Minute)
	for _, o := range sh.pass(Options{Force: true}) {
		if o.Err != nil {
			t.Fatalf("%s: %v", o.Name, o.Err)
		}
	}

	for _, old := range []bool{true, false} {
		counter := &listCounter{}
		sh.wrap = func(j state.Journal) state.Journal { counter.Journal = j; return counter }
		sh.restart(sh.store.holds("rotatord-admin")) // a new process: selfName unknown until a listing
		sh.clock.Add(time.Minute)
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		before := ms.TotalAlloc
		start := time.Now()
		var err error
		var out []Outcome
		if old {
			out, err = sh.engine.passOld(context.Background(), nil, Options{})
		} else {
			out, err = sh.engine.Pass(context.Background(), nil, Options{})
		}
		if err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		runtime.ReadMemStats(&ms)
		fresh := 0
		for _, o := range out {
			if o.Decision.Reason == ReasonFresh {
				fresh++
			}
		}
		t.Logf("old=%v: %d fresh of %d, %d Lists (%d records copied), %d MB allocated, %v",
			old, fresh, len(out), counter.lists.Load(), counter.listed.Load(), (ms.TotalAlloc-before)>>20, took)
		if !old && counter.lists.Load() > 10 {
			t.Errorf("the first pass of a process listed the journal %d times (once per quiet name)", counter.lists.Load())
		}
	}
}
