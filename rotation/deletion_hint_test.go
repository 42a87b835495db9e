package rotation

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/rotatord/rotatord/state"
)

// OnDeletionScheduled tells when the deletion it announces falls due, and
// that is the time NextDeletion gives it: the daemon's deletion timer
// wakes at it without reading every record again. Both ways a deletion is
// scheduled: a rotation delivered (due when its grace period ends), and a
// restarted process confirming the new key of a rotation whose grace
// period is over (due when its own confirmation delay ends).
func TestDeletionScheduledAtTheTimeNextDeletionGives(t *testing.T) {
	h := newHarness(t, time.Hour)
	for i := range 3 {
		h.api.add(fmt.Sprintf("ci-%d", i), roleCI)
	}
	h.pass(Options{}) // adopt
	h.clock.Add(time.Minute)

	var (
		mu    sync.Mutex
		heard []time.Time
	)
	newEngine := func() {
		h.engine = New(Config{API: h.api, Store: h.store, Logger: zap.NewNop(), Now: h.clock.Now, Sleep: h.clock.Sleep, OwnKeyID: h.own,
			OnDeletionScheduled: func(at time.Time) {
				mu.Lock()
				heard = append(heard, at)
				mu.Unlock()
			}})
		if err := h.engine.SetPolicies([]Policy{h.policy}); err != nil {
			t.Fatal(err)
		}
	}
	take := func() []time.Time {
		mu.Lock()
		defer mu.Unlock()
		out := heard
		heard = nil
		return out
	}

	newEngine()
	start := h.clock.Now()
	for _, o := range h.pass(Options{Force: true}) {
		if o.Err != nil {
			t.Fatalf("%s: %v", o.Name, o.Err)
		}
	}
	next, ok := h.engine.NextDeletion(start)
	if !ok || !next.Equal(start.Add(time.Hour)) {
		t.Fatalf("NextDeletion = %v, %v; want the end of the grace period, %v", next, ok, start.Add(time.Hour))
	}
	got := take()
	if len(got) != 3 {
		t.Fatalf("heard %d deletions scheduled, want 3: %v", len(got), got)
	}
	for _, at := range got {
		if !at.Equal(next) {
			t.Errorf("a delivered rotation announced due at %v; NextDeletion gives %v", at, next)
		}
	}

	// A restart after the grace period: the new process confirms each new
	// key itself, and waits its confirmation delay (min(grace, 10s)).
	newEngine()
	h.clock.Add(time.Hour + time.Second)
	round := h.clock.Now()
	for _, o := range h.engine.DeleteDue(context.Background()) {
		if o.Err != nil || o.Decision.Reason != ReasonConfirming {
			t.Fatalf("%s: %v %v, want it waiting for its confirmation delay", o.Name, o.Decision, o.Err)
		}
	}
	next, ok = h.engine.NextDeletion(round.Add(-time.Nanosecond))
	if want := round.Add(10 * time.Second); !ok || !next.Equal(want) {
		t.Fatalf("NextDeletion = %v, %v; want the end of the confirmation delay, %v", next, ok, want)
	}
	got = take()
	if len(got) != 3 {
		t.Fatalf("heard %d deletions scheduled after the restart, want 3: %v", len(got), got)
	}
	for _, at := range got {
		if !at.Equal(next) {
			t.Errorf("a confirmed rotation announced due at %v; NextDeletion gives %v", at, next)
		}
	}
	h.clock.Add(10 * time.Second)
	for _, o := range h.engine.DeleteDue(context.Background()) {
		if o.Err != nil || o.Decision.Action != ActionDelete {
			t.Errorf("%s: %v %v, want its old keys deleted", o.Name, o.Decision, o.Err)
		}
	}
}

// A rotation recorded from what the sinks hold (two live keys, no
// rotation on record: a key made by hand, or an older journal) schedules
// the other key's deletion too, and says so once it is on record.
func TestAdoptionFromSinksSchedulesItsDeletion(t *testing.T) {
	h := newHarness(t, time.Hour)
	cur := h.api.add("ci-runner", roleCI)
	h.pass(Options{})
	h.sinkA.held["ci-runner"] = credOf("ci-runner", cur)
	h.sinkB.held["ci-runner"] = credOf("ci-runner", cur)
	h.api.add("ci-runner", roleCI) // by hand

	var heard []time.Time
	h.engine = New(Config{API: h.api, Store: h.store, Logger: zap.NewNop(), Now: h.clock.Now, Sleep: h.clock.Sleep, OwnKeyID: h.own,
		OnDeletionScheduled: func(at time.Time) {
			if _, ok := h.store.Get("ci", "ci-runner"); !ok {
				t.Error("a deletion announced before its record was written")
			}
			heard = append(heard, at)
		}})
	if err := h.engine.SetPolicies([]Policy{h.policy}); err != nil {
		t.Fatal(err)
	}
	h.pass(Options{})
	r := h.record("ci-runner")
	if r.Rotation == nil || r.Rotation.Phase != state.PhaseDelivered {
		t.Fatalf("no adopted rotation on record: %+v", r.Rotation)
	}
	next, ok := h.engine.NextDeletion(h.clock.Now())
	if !ok || len(heard) != 1 || !heard[0].Equal(next) {
		t.Fatalf("heard %v; NextDeletion gives %v, %v", heard, next, ok)
	}
}

// failDeliveredOnce is a journal whose first write of a delivered
// rotation fails.
type failDeliveredOnce struct {
	state.Journal
	failed bool
}

func (j *failDeliveredOnce) Put(r state.Record) error {
	if !j.failed && r.Rotation != nil && r.Rotation.Phase == state.PhaseDelivered {
		j.failed = true
		return errors.New("disk full")
	}
	return j.Journal.Put(r)
}

// The write of "delivered" fails, and the failure's own write records
// the rotation delivered all the same (with the failure): its deletion is
// scheduled, and announced (found by review).
func TestDeliveredRecordedByAFailureIsAnnounced(t *testing.T) {
	h := newHarness(t, time.Hour)
	h.api.add("ci-runner", roleCI)
	h.pass(Options{}) // adopt
	h.clock.Add(time.Minute)
	var heard []time.Time
	h.engine = New(Config{API: h.api, Store: &failDeliveredOnce{Journal: h.store}, Logger: zap.NewNop(), Now: h.clock.Now, Sleep: h.clock.Sleep, OwnKeyID: h.own,
		OnDeletionScheduled: func(at time.Time) { heard = append(heard, at) }})
	if err := h.engine.SetPolicies([]Policy{h.policy}); err != nil {
		t.Fatal(err)
	}
	h.pass(Options{Force: true})
	r := h.record("ci-runner")
	if r.Rotation == nil || r.Rotation.Phase != state.PhaseDelivered || r.Failures != 1 {
		t.Fatalf("want the rotation recorded delivered by the failure's write; got %+v, %d failures", r.Rotation, r.Failures)
	}
	if len(heard) != 1 || !heard[0].Equal(r.Rotation.DeleteAfter) {
		t.Fatalf("heard %v, want the end of the grace period %v", heard, r.Rotation.DeleteAfter)
	}
}
