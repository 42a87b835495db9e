package rotation

import (
	"context"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/internal/memtrim"
)

// gcPercent reads the collector's target without setting it.
func gcPercent() int64 {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}

// managedGC makes memtrim set the collector's target, as main does, until
// the test ends.
func managedGC(t *testing.T) {
	t.Setenv("GOGC", "")
	memtrim.SetGC()
	t.Cleanup(func() {
		os.Setenv("GOGC", "100")
		memtrim.SetGC() // the environment rules again: memtrim lets go
		os.Unsetenv("GOGC")
		debug.SetGCPercent(100)
	})
}

// observedListing is an API whose listing notes the collector's target
// after the answer came, and can hold its answer until released.
type observedListing struct {
	*fakeAPI
	hold      chan struct{} // nil: answer at once
	listing   chan struct{} // closed when the listing was asked for
	atAnswer  atomic.Int64
	asked     atomic.Bool
	afterList func()
}

func (o *observedListing) ListKeys(ctx context.Context) ([]apiclient.Key, error) {
	if o.asked.CompareAndSwap(false, true) && o.listing != nil {
		close(o.listing)
	}
	if o.hold != nil {
		<-o.hold
	}
	keys, err := o.fakeAPI.ListKeys(ctx)
	o.atAnswer.Store(gcPercent())
	return keys, err
}

// TestPassBurstsFromItsListingsAnswerToItsFirstJob: the collector's target
// is raised from the listing's answer until the first job starts or the
// pass ends; never for a forced pass or a dry run, and never while a
// listing waits on the server (the target is the whole process's: another
// account's rotations run at it meanwhile).
func TestPassBurstsFromItsListingsAnswerToItsFirstJob(t *testing.T) {
	managedGC(t)
	h := newHarness(t, 0)
	h.api.add("ci-a", roleCI)
	o := &observedListing{fakeAPI: h.api}
	h.engine.Reconfigure(o, h.own, 0)
	var atJob atomic.Int64
	h.api.createHook = func(apiclient.Key) error { atJob.Store(gcPercent()); return nil }

	for _, tt := range []struct {
		name      string
		opts      Options
		atAnswer  int64
		withAJob  bool
		afterPass int64
	}{
		{"adopting pass", Options{}, memtrim.BurstPercent, false, memtrim.GCPercent},
		{"forced pass", Options{Force: true}, memtrim.GCPercent, true, memtrim.GCPercent},
		{"quiet pass", Options{}, memtrim.BurstPercent, false, memtrim.GCPercent},
		{"dry run", Options{DryRun: true, Force: false}, memtrim.GCPercent, false, memtrim.GCPercent},
	} {
		atJob.Store(0)
		h.clock.Add(time.Minute)
		h.pass(tt.opts)
		if got := o.atAnswer.Load(); got != tt.atAnswer {
			t.Errorf("%s: the target at the listing's answer was %d, want %d", tt.name, got, tt.atAnswer)
		}
		if got := atJob.Load(); tt.withAJob && got != memtrim.GCPercent {
			t.Errorf("%s: the target in a job was %d, want %d", tt.name, got, memtrim.GCPercent)
		}
		if got := gcPercent(); got != tt.afterPass {
			t.Errorf("%s: the target after the pass is %d, want %d", tt.name, got, tt.afterPass)
		}
	}

	// A listing that waits on its server: another engine's forced pass
	// meanwhile runs at the usual target.
	o.hold, o.listing = make(chan struct{}), make(chan struct{})
	o.asked.Store(false)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = h.engine.Pass(context.Background(), nil, Options{})
	}()
	<-o.listing
	b := newHarness(t, 0)
	b.api.add("ci-b", roleCI)
	var inB atomic.Int64
	b.api.createHook = func(apiclient.Key) error { inB.Store(gcPercent()); return nil }
	b.pass(Options{Force: true})
	close(o.hold)
	<-done
	if got := inB.Load(); got != memtrim.GCPercent {
		t.Errorf("a rotation ran at target %d while another engine's listing waited on its server, want %d", got, memtrim.GCPercent)
	}
	if got := gcPercent(); got != memtrim.GCPercent {
		t.Errorf("after both passes the target is %d, want %d", got, memtrim.GCPercent)
	}
}

// TestGenerationsDoNotPinThePackedStrings (review 30): a quiet name whose
// key went away gets a handler; the engine's maps by name must not key it
// by a slice of the quiet set's packed strings, which they would keep
// alive for good.
func TestGenerationsDoNotPinThePackedStrings(t *testing.T) {
	h := quietHarness(t, 5)
	qs := h.cachedQuiet()
	if qs == nil || len(qs.candidates) != 5 {
		t.Fatalf("quiet set %+v, want the 5 names", qs)
	}
	first, last := qs.candidates[0], qs.candidates[len(qs.candidates)-1]
	lo := uintptr(unsafe.Pointer(unsafe.StringData(first.name)))
	hi := uintptr(unsafe.Pointer(unsafe.StringData(last.keyID))) + uintptr(len(last.keyID))
	id := h.api.live("ci-02")[0] // deleted outside rotatord
	h.api.mu.Lock()
	delete(h.api.keys, id)
	h.api.mu.Unlock()
	h.clock.Add(time.Minute)
	h.pass(Options{})
	h.engine.mu.Lock()
	defer h.engine.mu.Unlock()
	for name := range h.engine.gens {
		if p := uintptr(unsafe.Pointer(unsafe.StringData(name))); p >= lo && p < hi {
			t.Errorf("e.gens[%q] is keyed by a slice of a quiet set's packed string: it keeps its %d bytes alive", name, hi-lo)
		}
	}
}
