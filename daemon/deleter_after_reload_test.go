package daemon

import (
	"testing"
	"time"

	"github.com/rotatord/rotatord/state"
)

// A round of deletions that a reload waiting for the engine made skip a
// due name (ReasonReloaded: a consumer check of another name held the
// reload) is tried again once the reload is over, not a whole
// DeleteCheckInterval later: the old key went up to 15 s after the
// reload (issue 16: at most 1 s after delete_after), and a check that
// held the reload for minutes made every due deletion wait for it and
// then for the next tick.
func TestDeletionSkippedForAReloadRunsOnceTheReloadIsOver(t *testing.T) {
	st := newStore(t)
	now := time.Now()
	// Due, and in its backoff (a failed attempt a moment ago): a round
	// that gets to it reads the record and leaves it, without the API.
	if err := st.Put(state.Record{Policy: "p", Name: "ci-runner", Failures: 1, LastFailure: now,
		Rotation: &state.Rotation{
			Phase: state.PhaseDelivered, StartedAt: now, OldKeyIDs: []string{"old"},
			NewKeyID: "new", DeliveredAt: now.Add(-time.Hour - time.Second), DeleteAfter: now.Add(-time.Second),
		}}); err != nil {
		t.Fatal(err)
	}
	journal := &eachCounter{Store: st}
	d := deleterDaemon(t, journal, time.Hour, 10*time.Hour)
	d.current = &setup{accounts: []*accountSetup{{name: "a"}}}
	eng := d.accounts["a"].engine

	// A reload waits for the engine (as for a consumer check in flight).
	release := eng.LockInstall()
	released := false
	defer func() {
		if !released {
			release()
		}
	}()

	waitFor := runDeleter(t, d)
	// The deletion is due: a round runs and skips it for the reload.
	d.wakeDeleter(now)
	waitFor("the round that skips the name", func() bool { return journal.reads.Load() >= 2 })
	time.Sleep(100 * time.Millisecond)
	before := journal.reads.Load()

	// The reload ends: the name is tried again under the new policies,
	// not at the next DeleteCheckInterval (10 hours here).
	release()
	released = true
	waitFor("a round of deletions after the reload", func() bool { return journal.reads.Load() > before })
}
