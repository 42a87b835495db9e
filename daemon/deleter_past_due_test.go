package daemon

import (
	"testing"
	"time"

	"github.com/rotatord/rotatord/state"
)

// A delivered rotation whose deletion is past due but that this process
// never confirmed (it restarted in the grace period, or it is a new leader
// taking over the last one's rotation) and that waits (a closed window, a
// backoff). confirmDue answers "now" for it, read by the engine a moment
// after nextDeletionWait read its own now: the deletion looks due in the
// future, and the timer is armed for ~10ms, over and over: the deleter
// spins (DeleteDue every 10ms) instead of waiting DeleteCheckInterval.
func TestDeleterSpinsOnUnconfirmedPastDueDeletion(t *testing.T) {
	st := newStore(t)
	now := time.Now()
	if err := st.Put(state.Record{Policy: "p", Name: "ci-runner", Rotation: &state.Rotation{
		Phase: state.PhaseDelivered, StartedAt: now.Add(-2 * time.Hour), OldKeyIDs: []string{"old"},
		NewKeyID: "new", DeliveredAt: now.Add(-time.Hour), DeleteAfter: now.Add(-time.Minute),
	}}); err != nil {
		t.Fatal(err)
	}
	d := deleterDaemon(t, st, time.Hour, 15*time.Second)
	if w := d.nextDeletionWait(time.Now()); w < time.Second {
		t.Errorf("a deletion past due (and waiting) arms the deletion timer for %v, not DeleteCheckInterval (15s): the deleter runs DeleteDue every %v", w, w)
	}
}

// NextDeletion answers the earliest deletion, past ones included, and
// nextDeletionWait ignores an answer not in the future: one deletion past
// due that waits (a closed window, a backoff) hides every later one. Here
// a key due in 2s waits the whole DeleteCheckInterval (15s in production,
// the old poll) instead of going when its grace period ends.
func TestPastDueDeletionHidesTheNextOne(t *testing.T) {
	st := newStore(t)
	now := time.Now()
	for name, after := range map[string]time.Duration{"ci-waiting": -time.Minute, "ci-next": 2 * time.Second} {
		if err := st.Put(state.Record{Policy: "p", Name: name, Rotation: &state.Rotation{
			Phase: state.PhaseDelivered, StartedAt: now.Add(-2 * time.Hour), OldKeyIDs: []string{"old-" + name},
			NewKeyID: "new-" + name, DeliveredAt: now.Add(-time.Hour), DeleteAfter: now.Add(after),
		}}); err != nil {
			t.Fatal(err)
		}
	}
	d := deleterDaemon(t, st, time.Hour, 15*time.Second)
	if w := d.nextDeletionWait(time.Now()); w > 3*time.Second {
		t.Errorf("a deletion due in 2s waits %v: the deletion past due (and waiting) hides it", w)
	}
}

// A deletion that fell due while a round of deletions ran was not in that
// round (it takes what is due when it starts), and it is no longer ahead:
// the deleter must go again at once, not wait for DeleteCheckInterval
// (found by the bench: old keys deleted 15 s after their grace period).
func TestDeletionDueDuringTheRoundGoesAtOnce(t *testing.T) {
	st := newStore(t)
	now := time.Now()
	round := now.Add(-2 * time.Second) // the last round began 2s ago
	for name, after := range map[string]time.Duration{"ci-tried": -time.Minute, "ci-during": -time.Second} {
		if err := st.Put(state.Record{Policy: "p", Name: name, Rotation: &state.Rotation{
			Phase: state.PhaseDelivered, StartedAt: now.Add(-2 * time.Hour), OldKeyIDs: []string{"old-" + name},
			NewKeyID: "new-" + name, DeliveredAt: now.Add(-time.Hour), DeleteAfter: now.Add(after),
		}}); err != nil {
			t.Fatal(err)
		}
	}
	d := deleterDaemon(t, st, time.Hour, 15*time.Second)
	if w := d.nextDeletionWait(round); w > time.Second {
		t.Errorf("a deletion that fell due during the last round waits %v", w)
	}
	// Once a round began after it, only what is ahead counts.
	if w := d.nextDeletionWait(now); w < 10*time.Second {
		t.Errorf("after a round that tried them, deletions already due arm the timer for %v, not DeleteCheckInterval", w)
	}
}
