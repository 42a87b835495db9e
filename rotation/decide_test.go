package rotation

import (
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/state"
)

func TestDecide(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	cur := apiclient.Key{ID: "EXOcur", Name: "n"}
	other := apiclient.Key{ID: "EXOother", Name: "n"}
	own := apiclient.Key{ID: "EXOown", Name: "n"}
	fresh := state.Record{CurrentKeyID: "EXOcur", CurrentSince: now.Add(-time.Hour)}
	old := state.Record{CurrentKeyID: "EXOcur", CurrentSince: now.Add(-48 * time.Hour)}
	failed := fresh
	failed.Failures, failed.LastFailure = 2, now.Add(-time.Minute)
	failedLongAgo := old
	failedLongAgo.Failures, failedLongAgo.LastFailure = 2, now.Add(-time.Hour)
	withRotation := func(r state.Record, rot state.Rotation) state.Record {
		r = r.Clone()
		r.Rotation = &rot
		return r
	}

	tests := []struct {
		name string
		give Input
		want Action
		why  Reason
		due  time.Time
	}{
		{"fresh key", Input{Live: []apiclient.Key{cur}, Record: fresh}, ActionNone, ReasonFresh, now.Add(23 * time.Hour)},
		{"expired key", Input{Live: []apiclient.Key{cur}, Record: old}, ActionRotate, ReasonExpired, time.Time{}},
		{"exactly max_age", Input{Live: []apiclient.Key{cur}, Record: state.Record{CurrentKeyID: "EXOcur", CurrentSince: now.Add(-24 * time.Hour)}}, ActionRotate, ReasonExpired, time.Time{}},
		{"forced", Input{Live: []apiclient.Key{cur}, Record: fresh, Force: true}, ActionRotate, ReasonForced, time.Time{}},
		{"own key", Input{Live: []apiclient.Key{cur, own}, Record: old, OwnKeyID: "EXOown", Force: true}, ActionSkip, ReasonOwnKey, time.Time{}},
		{"age unknown", Input{Live: []apiclient.Key{cur}, Record: state.Record{CurrentKeyID: "EXOcur"}}, ActionRotate, ReasonAgeUnknown, time.Time{}},
		{"several keys, current unknown", Input{Live: []apiclient.Key{cur}, Record: state.Record{}}, ActionRotate, ReasonSeveralKeys, time.Time{}},
		{"two keys, current unknown: never a third", Input{Live: []apiclient.Key{cur, other}, Record: state.Record{}}, ActionNone, ReasonTwoKeys, time.Time{}},
		{"two keys, forced: never a third", Input{Live: []apiclient.Key{cur, other}, Record: fresh, Force: true}, ActionNone, ReasonTwoKeys, time.Time{}},
		{"current gone", Input{Live: []apiclient.Key{other}, Record: fresh}, ActionRotate, ReasonCurrentGone, time.Time{}},
		{"no key at all", Input{Record: fresh}, ActionNone, ReasonCurrentGone, time.Time{}},
		{"backoff", Input{Live: []apiclient.Key{cur}, Record: failed, Force: true}, ActionNone, ReasonBackoff, now.Add(-time.Minute).Add(2 * time.Minute)},
		{"backoff ignored", Input{Live: []apiclient.Key{cur}, Record: failed, Force: true, IgnoreBackoff: true}, ActionRotate, ReasonForced, time.Time{}},
		{"backoff over", Input{Live: []apiclient.Key{cur}, Record: failedLongAgo}, ActionRotate, ReasonExpired, time.Time{}},
		{"grace running", Input{Live: []apiclient.Key{cur, other}, Record: withRotation(fresh, state.Rotation{Phase: state.PhaseDelivered, DeleteAfter: now.Add(time.Minute)})}, ActionNone, ReasonGraceRunning, now.Add(time.Minute)},
		{"grace over", Input{Live: []apiclient.Key{cur, other}, Record: withRotation(fresh, state.Rotation{Phase: state.PhaseDelivered, DeleteAfter: now})}, ActionDelete, ReasonGraceOver, time.Time{}},
		// A failed deletion (a before_delete hook, the API) waits for its
		// backoff, as in the deleter (DeleteDue).
		{"grace over, deletion backing off", Input{Live: []apiclient.Key{cur, other}, Record: withRotation(failed, state.Rotation{Phase: state.PhaseDelivered, DeleteAfter: now.Add(-time.Hour)})}, ActionNone, ReasonBackoff, now.Add(time.Minute)},
		{"grace over, deletion backoff over", Input{Live: []apiclient.Key{cur, other}, Record: withRotation(failedLongAgo, state.Rotation{Phase: state.PhaseDelivered, DeleteAfter: now.Add(-2 * time.Hour)})}, ActionDelete, ReasonGraceOver, time.Time{}},
		{"interrupted intent", Input{Live: []apiclient.Key{cur}, Record: withRotation(fresh, state.Rotation{Phase: state.PhaseIntent})}, ActionRecover, ReasonInterrupted, time.Time{}},
		{"interrupted created", Input{Live: []apiclient.Key{cur, other}, Record: withRotation(fresh, state.Rotation{Phase: state.PhaseCreated})}, ActionRecover, ReasonInterrupted, time.Time{}},
		{"interrupted, backing off", Input{Live: []apiclient.Key{cur, other}, Record: withRotation(failed, state.Rotation{Phase: state.PhaseCreated})}, ActionNone, ReasonBackoff, now.Add(-time.Minute).Add(2 * time.Minute)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.give.Now = now
			tt.give.MaxAge = 24 * time.Hour
			got := Decide(tt.give)
			if got.Action != tt.want || got.Reason != tt.why || !got.Due.Equal(tt.due) {
				t.Errorf("Decide = %+v, want %s (%s) due %v", got, tt.want, tt.why, tt.due)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	tests := []struct {
		give int
		want time.Duration
	}{
		{0, 0}, {1, time.Minute}, {2, 2 * time.Minute}, {3, 4 * time.Minute}, {7, time.Hour}, {100, time.Hour},
	}
	for _, tt := range tests {
		if got := Backoff(tt.give); got != tt.want {
			t.Errorf("Backoff(%d) = %v, want %v", tt.give, got, tt.want)
		}
	}
}

func TestReconcile(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	live := []apiclient.Key{{ID: "EXOa", Name: "n", RoleID: "r1"}}

	rec, changed := Reconcile(now, state.Record{}, false, "p", "n", live, false)
	if !changed || rec.CurrentKeyID != "EXOa" || !rec.CurrentSince.Equal(now) || rec.RoleID != "r1" {
		t.Errorf("new record (adopt wait) = %+v changed=%v", rec, changed)
	}
	rec, _ = Reconcile(now, state.Record{}, false, "p", "n", live, true)
	if !rec.CurrentSince.IsZero() {
		t.Errorf("adopt rotate: CurrentSince = %v, want zero (age unknown)", rec.CurrentSince)
	}
	later := now.Add(time.Hour)
	rec2, changed := Reconcile(later, rec, true, "p", "n", live, true)
	if changed {
		t.Errorf("nothing changed but Reconcile says it did: %+v", rec2)
	}
	rec3, changed := Reconcile(later, rec, true, "p", "n", []apiclient.Key{{ID: "EXOb", Name: "n", RoleID: "r1"}}, true)
	if !changed || !firstSeen(rec3, "EXOb").Equal(later) {
		t.Errorf("new key not noted: %+v", rec3)
	}
	if ok := rec3.FirstSeen.Has("EXOa"); ok {
		t.Error("gone key not forgotten")
	}
	if ok := rec.FirstSeen.Has("EXOb"); ok {
		t.Error("Reconcile modified its input")
	}
}

// firstSeen is when a record first saw key id (zero if it did not).
func firstSeen(r state.Record, id string) time.Time {
	at, _ := r.FirstSeen.Get(id)
	return at
}
