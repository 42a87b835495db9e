package rotation

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rotatord/rotatord/state"
)

// listOnly hides the store's Each: eachRecord's fallback (List) is used.
type listOnly struct{ state.Journal }

// guarded has Each, and fails the test if a store method is called while
// an Each callback runs (that would deadlock on the real store's lock).
type guarded struct {
	state.Journal
	t      *testing.T
	inEach atomic.Int32
	eaches atomic.Int32
}

func (g *guarded) Each(policy string, fn func(r *state.Record)) {
	g.eaches.Add(1)
	g.inEach.Add(1)
	defer g.inEach.Add(-1)
	g.Journal.(*state.Store).Each(policy, fn)
}
func (g *guarded) check(m string) {
	if g.inEach.Load() != 0 {
		g.t.Errorf("%s called inside Each", m)
	}
}
func (g *guarded) Get(p, n string) (state.Record, bool) { g.check("Get"); return g.Journal.Get(p, n) }
func (g *guarded) Has(p, n string) bool                 { g.check("Has"); return g.Journal.Has(p, n) }
func (g *guarded) List(p string) []state.Record         { g.check("List"); return g.Journal.List(p) }
func (g *guarded) Put(r state.Record) error             { g.check("Put"); return g.Journal.Put(r) }
func (g *guarded) Delete(p, n string) error             { g.check("Delete"); return g.Journal.Delete(p, n) }

// DeleteDue gives the same outcomes, in name order, whether the journal
// has Each or not, and calls no store method under Each.
func TestDeleteDueEachAndFallback(t *testing.T) {
	run := func(wrap func(state.Journal) state.Journal) []string {
		h := newHarness(t, time.Hour)
		h.wrap = wrap
		h.newEngine()
		for i := 7; i >= 0; i-- {
			h.api.add(fmt.Sprintf("ci-%02d", i*3%8), roleCI)
		}
		h.pass(Options{Force: true})
		h.clock.Add(2 * time.Hour)
		var names []string
		for _, o := range h.engine.DeleteDue(context.Background()) {
			if o.Err != nil {
				t.Errorf("%s: %v", o.Name, o.Err)
			}
			names = append(names, o.Policy+"/"+o.Name)
		}
		return names
	}
	var g *guarded
	withEach := run(func(j state.Journal) state.Journal { g = &guarded{Journal: j, t: t}; return g })
	without := run(func(j state.Journal) state.Journal { return listOnly{j} })
	if g.eaches.Load() == 0 {
		t.Errorf("Each never used")
	}
	if fmt.Sprint(withEach) != fmt.Sprint(without) || len(withEach) < 8 {
		t.Fatalf("with Each %v, with List %v", withEach, without)
	}
	for i := 1; i < len(withEach); i++ {
		if withEach[i-1] >= withEach[i] {
			t.Fatalf("not in name order: %v", withEach)
		}
	}
}
