package daemon

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/rotatord/rotatord/rotation"
	"github.com/rotatord/rotatord/state"
)

// eachCounter counts the deleter's reads of every record (NextDeletion
// and DeleteDue read them through Each).
type eachCounter struct {
	*state.Store
	reads atomic.Int64
}

func (c *eachCounter) Each(policy string, fn func(r *state.Record)) {
	c.reads.Add(1)
	c.Store.Each(policy, fn)
}

// newStore opens a journal in a temporary directory.
func newStore(t *testing.T) *state.Store {
	t.Helper()
	st, err := state.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// deleterDaemon is what the deletion timer needs of a daemon: one account
// whose engine has the policy "p" (matching every name, grace period
// grace) over journal j, and DeleteCheckInterval every.
func deleterDaemon(t *testing.T, j state.Journal, grace, every time.Duration) *Daemon {
	t.Helper()
	eng := rotation.New(rotation.Config{Store: j, Logger: zap.NewNop(), Now: time.Now})
	if err := eng.SetPolicies([]rotation.Policy{{Name: "p", Match: func(string, string) bool { return true }, GracePeriod: grace}}); err != nil {
		t.Fatal(err)
	}
	return &Daemon{opts: Options{Now: time.Now, DeleteCheckInterval: every}, log: zap.NewNop(),
		accounts: map[string]*account{"a": {name: "a", engine: eng}}, current: &setup{},
		deleterWake: make(chan struct{}, 1)}
}

// A deletion scheduled while the deleter sleeps brings its timer forward
// when it falls due first, and a wake reads no record: a pass over
// 10,000 names schedules one every few milliseconds, and reading them all
// at each (NextDeletion) cost 17 ms and 16 MB there.
func TestDeleterWakesAtTheScheduledTimeWithoutReadingTheJournal(t *testing.T) {
	st := newStore(t)
	now := time.Now()
	if err := st.Put(state.Record{Policy: "p", Name: "ci-runner", Rotation: &state.Rotation{
		Phase: state.PhaseDelivered, StartedAt: now, OldKeyIDs: []string{"old"},
		NewKeyID: "new", DeliveredAt: now, DeleteAfter: now.Add(time.Hour),
	}}); err != nil {
		t.Fatal(err)
	}
	journal := &eachCounter{Store: st}
	d := deleterDaemon(t, journal, 2*time.Hour, 10*time.Hour)
	waitFor := runDeleter(t, d)
	waitFor("the deleter's first look", func() bool { return journal.reads.Load() >= 1 })
	time.Sleep(50 * time.Millisecond)
	before := journal.reads.Load()

	// Deletions due after the timer (armed for the one in an hour): it
	// stays as it is, and nothing is read.
	for range 200 {
		d.wakeDeleter(time.Now().Add(3 * time.Hour))
	}
	time.Sleep(200 * time.Millisecond)
	if n := journal.reads.Load() - before; n != 0 {
		t.Fatalf("200 deletions scheduled after the timer made the deleter read the journal %d times", n)
	}

	// One due in 100 ms: the deleter runs a round then, not an hour
	// later, and looks for the next deletion (NextDeletion; this daemon
	// has no setup in force, so its DeleteDue reads nothing).
	d.wakeDeleter(time.Now().Add(100 * time.Millisecond))
	waitFor("a round of deletions at the scheduled time", func() bool { return journal.reads.Load() > before })
}

// A deletion due centuries ahead (an edited record: DeleteAfter in the
// year 9999) is further than a time.Duration reaches: the wait must stay
// DeleteCheckInterval, not wrap negative and fire the timer after every
// round (found by review: the deleter read the journal 246,089 times in
// 300 ms).
func TestDeleterWaitForADeletionCenturiesAhead(t *testing.T) {
	st := newStore(t)
	far := time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := st.Put(state.Record{Policy: "p", Name: "ci-runner", Rotation: &state.Rotation{
		Phase: state.PhaseDelivered, OldKeyIDs: []string{"old"}, NewKeyID: "new", DeleteAfter: far,
	}}); err != nil {
		t.Fatal(err)
	}
	d := deleterDaemon(t, st, time.Hour, 15*time.Second)
	if w := d.nextDeletionWait(time.Now()); w != 15*time.Second {
		t.Errorf("a deletion due in the year 9999 arms the timer for %v, want DeleteCheckInterval (15s)", w)
	}
	if w := d.waitUntil(far, time.Now()); w != 15*time.Second {
		t.Errorf("waitUntil(year 9999) = %v, want 15s", w)
	}
	if w := d.waitUntil(time.Now().Add(-time.Hour), time.Now()); w <= 0 || w > 100*time.Millisecond {
		t.Errorf("waitUntil(an hour ago) = %v, want a few milliseconds", w)
	}
}

// runDeleter runs d's deleter until the test ends, and returns a wait for
// a condition, which fails the test after 10 seconds.
func runDeleter(t *testing.T, d *Daemon) func(what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { defer close(done); d.deleteLoop(ctx, stop, nil) }()
	t.Cleanup(func() { cancel(); <-done })
	return func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}
