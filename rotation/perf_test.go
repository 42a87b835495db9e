package rotation

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/rotatord/rotatord/state"
)

// writeCounter is a journal that counts the writes made through it.
type writeCounter struct {
	state.Journal
	writes             atomic.Int64
	organizationWrites atomic.Int64
}

func (c *writeCounter) Put(r state.Record) error {
	if r.Policy == state.OrganizationPolicy {
		// The credential found of the journal's organization, written
		// once per credential by the first process that finds it.
		c.organizationWrites.Add(1)
	} else {
		c.writes.Add(1)
	}
	return c.Journal.Put(r)
}

func (c *writeCounter) Delete(policy, name string) error {
	c.writes.Add(1)
	return c.Journal.Delete(policy, name)
}

// TestNoRewriteAfterRotation is the regression test of a finding of the
// benchmark (bench/): the pass after a rotation rewrote every rotated
// record (a Put each: two fsyncs) only to note that the key rotatord had
// just created now shows in the listing. The rotation records that itself.
func TestNoRewriteAfterRotation(t *testing.T) {
	for _, grace := range []time.Duration{0, time.Hour} {
		t.Run(fmt.Sprintf("grace=%s", grace), func(t *testing.T) {
			h := newHarness(t, grace)
			for i := range 3 {
				h.api.add(fmt.Sprintf("ci-%d", i), roleCI)
			}
			h.pass(Options{})
			h.clock.Add(time.Minute)
			for _, o := range h.pass(Options{Force: true}) {
				if o.Err != nil {
					t.Fatalf("%s: %v", o.Name, o.Err)
				}
			}
			if n := len(h.store.List("ci")); n != 3 {
				t.Fatalf("%d records, want 3", n)
			}
			counter := &writeCounter{}
			h.wrap = func(j state.Journal) state.Journal { counter.Journal = j; return counter }
			h.newEngine()
			h.clock.Add(time.Minute)
			for _, o := range h.pass(Options{}) {
				if o.Err != nil || o.Decision.Action != ActionNone && o.Name != "rotatord-admin" {
					t.Fatalf("%s: %v %v", o.Name, o.Decision, o.Err)
				}
			}
			if n := counter.writes.Load(); n != 0 {
				t.Errorf("a pass with nothing to do wrote %d records", n)
			}
			if n := counter.organizationWrites.Load(); n > 1 {
				t.Errorf("a pass with nothing to do wrote the organization record %d times", n)
			}
			// The record still knows every live key and when it appeared.
			for i := range 3 {
				name := fmt.Sprintf("ci-%d", i)
				r := h.record(name)
				for _, id := range h.api.live(name) {
					if ok := r.FirstSeen.Has(id); !ok {
						t.Errorf("%s: first_seen lacks live key %s", name, id)
					}
				}
			}
		})
	}
}

// BenchmarkPass is a forced pass of the engine over N names with an
// in-memory API and sinks and the state store on disk: what rotatord
// itself adds to the API's latency. ms/rotation is the time per rotation
// with Concurrency (4) names in parallel.
func BenchmarkPass(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			t := &testing.T{}
			e := benchEngine(b, t, n)
			ctx := context.Background()
			if _, err := e.Pass(ctx, nil, Options{}); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				out, err := e.Pass(ctx, nil, Options{Force: true, IgnoreBackoff: true})
				if err != nil {
					b.Fatal(err)
				}
				for _, o := range out {
					if o.Err != nil {
						b.Fatalf("%s: %v", o.Name, o.Err)
					}
				}
			}
			b.StopTimer()
			if t.Failed() {
				b.Fatal("the fake API saw an outage")
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N*n), "ms/rotation")
		})
	}
}

// BenchmarkNoopPass is a pass over N names of which none is due, as a
// pass finds them between two rotations (adopted, rotated once, the old
// keys deleted): what rotatord adds to the one listing it makes (bench's
// noop_vs_listing). It fails unless every name comes back not due.
func BenchmarkNoopPass(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		t := &testing.T{}
		e := benchEngine(b, t, n)
		ctx := context.Background()
		for _, opts := range []Options{{}, {Force: true}, {}} { // adopt, rotate, delete the old keys
			if _, err := e.Pass(ctx, nil, opts); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			for range b.N {
				out, err := e.Pass(ctx, nil, Options{})
				if err != nil {
					b.Fatal(err)
				}
				for _, o := range out {
					if o.Err != nil || o.Name != "rotatord-admin" && o.Decision.Reason != ReasonFresh {
						b.Fatalf("%s: %v %v", o.Name, o.Decision, o.Err)
					}
				}
			}
		})
		if t.Failed() {
			b.Fatal("the fake API saw an outage")
		}
	}
}

// benchEngine is an engine over n adopted-to-be names ci-NNNNN with an
// in-memory API and sink and the state store on disk; the fake API
// reports an outage on t.
func benchEngine(b *testing.B, t *testing.T, n int) *Engine {
	api := newFakeAPI(t)
	sinkA := newMemSink("a")
	api.sinks = []*memSink{sinkA}
	own := api.add("rotatord-admin", "admin-role")
	for i := range n {
		api.add(fmt.Sprintf("ci-%05d", i), roleCI)
	}
	store, err := state.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	e := New(Config{API: api, Store: store, Logger: zap.NewNop(), OwnKeyID: own})
	e.SetPolicies([]Policy{{
		Name:   "ci",
		Match:  func(name, role string) bool { return strings.HasPrefix(name, "ci-") },
		MaxAge: 24 * time.Hour,
		Sinks:  toSinks(sinkA),
	}})
	return e
}

// BenchmarkNextDeletion is the deleter's look for the earliest deletion
// over 10,000 names whose rotations are delivered and wait out a grace
// period of a day (a scheduled pass under the default policy leaves them
// so): it reads every record. It fails unless it finds one. "recent" has
// every new key confirmed a moment ago, each confirmation's delay still
// running (10 s: only a pass that fast has them all so); "settled" a
// minute later, as a deletion round finds most of them.
func BenchmarkNextDeletion(b *testing.B) {
	t := &testing.T{}
	e := benchEngine(b, t, 10000)
	policies, _ := e.snapshotPolicies()
	p := policies[0]
	p.GracePeriod = 24 * time.Hour
	if err := e.SetPolicies([]Policy{p}); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for _, opts := range []Options{{}, {Force: true}} { // adopt, rotate
		if _, err := e.Pass(ctx, nil, opts); err != nil {
			b.Fatal(err)
		}
	}
	for _, later := range []struct {
		name string
		by   time.Duration
	}{{"recent", 0}, {"settled", time.Minute}} {
		e.now = func() time.Time { return time.Now().Add(later.by) }
		b.Run(later.name, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				if _, ok := e.NextDeletion(e.now()); !ok {
					b.Fatal("no deletion found")
				}
			}
		})
	}
	if t.Failed() {
		b.Fatal("the fake API saw an outage")
	}
}
