package rotation

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/rotatord/rotatord/state"
)

// NextDeletion skips the confirmation lookup of a record that cannot be
// the next deletion; it must give what reading every record fully gives:
// the earliest time after after at which a delivered rotation falls due,
// the end of this process's confirmation delay when that is later and
// still running. Random journals, confirmations and times, against that
// reading.
func TestNextDeletionMatchesAFullReading(t *testing.T) {
	st, err := state.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clock := &fakeClock{now: time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)}
	e := New(Config{Store: st, Logger: zap.NewNop(), Now: clock.Now, MinDeleteDelay: 10 * time.Second})
	policies := []Policy{
		{Name: "a", Match: func(string, string) bool { return true }, GracePeriod: time.Hour},
		{Name: "b", Match: func(string, string) bool { return true }, GracePeriod: 4 * time.Second},
	}
	if err := e.SetPolicies(policies); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	offset := func(span time.Duration) time.Duration { return time.Duration(rng.Int64N(int64(2*span))) - span }
	for round := range 40 {
		now := clock.Now()
		e.mu.Lock()
		e.confirmed = map[recordKey]time.Time{}
		e.mu.Unlock()
		for _, p := range policies {
			for i := range 25 {
				name := fmt.Sprintf("ci-%02d", i)
				r := state.Record{Policy: p.Name, Name: name}
				switch rng.IntN(4) {
				case 0: // no rotation
				case 1:
					r.Rotation = &state.Rotation{Phase: state.PhaseCreated, NewKeyID: "n"}
				default:
					r.Rotation = &state.Rotation{Phase: state.PhaseDelivered, NewKeyID: "n", DeleteAfter: now.Add(offset(20 * time.Second))}
				}
				if err := st.Put(r); err != nil {
					t.Fatal(err)
				}
				var at time.Time
				switch rng.IntN(4) {
				case 0: // not confirmed by this process
				case 1: // its delay ends now, or a nanosecond either side
					at = now.Add(-min(p.GracePeriod, 10*time.Second) + time.Duration(rng.IntN(3)-1))
				default:
					at = now.Add(offset(15 * time.Second))
				}
				if !at.IsZero() {
					e.mu.Lock()
					e.confirmed[recordKey{p.Name, name}] = at
					e.mu.Unlock()
				}
			}
		}
		after := now.Add(offset(10 * time.Second))
		want, wantOK := fullReading(e, policies, after)
		got, ok := e.NextDeletion(after)
		if ok != wantOK || !got.Equal(want) {
			t.Fatalf("round %d: NextDeletion(%v) = %v, %v; a full reading gives %v, %v", round, after, got, ok, want, wantOK)
		}
	}
}

// fullReading is NextDeletion as it was first written: every delivered
// record, its confirmation looked up one by one.
func fullReading(e *Engine, policies []Policy, after time.Time) (time.Time, bool) {
	var next time.Time
	for _, p := range policies {
		for _, r := range e.store.List(p.Name) {
			if r.Rotation == nil || r.Rotation.Phase != state.PhaseDelivered {
				continue
			}
			t := r.Rotation.DeleteAfter
			if c := e.confirmDue(p, r.Name); c.After(t) && e.confirmWaiting(p, r.Name) {
				t = c
			}
			if t.After(after) && (next.IsZero() || t.Before(next)) {
				next = t
			}
		}
	}
	return next, !next.IsZero()
}
