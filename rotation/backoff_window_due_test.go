package rotation

import (
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/state"
)

// A name backing off after a failure, whose next step is window-bound (the
// deletion of a delivered rotation's old keys: a consumer check that
// failed; a due rotation that failed), goes on at the first window opening
// after its backoff, not when the backoff ends outside the windows: `plan`
// shows that opening as NEXT, as it does for every name waiting for a
// window. A recovery of an interrupted rotation is not window-bound, and
// keeps the end of its backoff.
func TestBackoffEndingOutsideTheWindowsIsDueAtTheNextOpening(t *testing.T) {
	fri := time.Date(2026, 12, 11, 15, 59, 0, 0, time.UTC) // a Friday, a minute before the window closes
	mon9 := time.Date(2026, 12, 14, 9, 0, 0, 0, time.UTC)
	live := []apiclient.Key{{ID: "EXO1", Name: "ci-x", RoleID: "r"}, {ID: "EXO0", Name: "ci-x", RoleID: "r"}}
	failed := state.Record{Name: "ci-x", RoleID: "r", CurrentKeyID: "EXO1", CurrentSince: fri.Add(-48 * time.Hour),
		Failures: 1, LastFailure: fri, LastError: "not deleting old keys: hook exec#1 (before_delete): exit status 3"}

	del := failed
	del.Rotation = &state.Rotation{Phase: state.PhaseDelivered, NewKeyID: "EXO1", OldKeyIDs: []string{"EXO0"}, DeleteAfter: fri.Add(-time.Hour)}
	in := Input{Now: fri, MaxAge: time.Hour, Live: live, Record: del, Windows: weekdays09to16()}
	if d := Decide(in); d.Reason != ReasonBackoff || !d.Due.Equal(mon9) {
		t.Errorf("deletion backing off past the window's close: %+v, want due at the next opening %s", d, mon9)
	}
	in.IgnoreWindows = true
	if d := Decide(in); d.Reason != ReasonBackoff || !d.Due.Equal(fri.Add(Backoff(1))) {
		t.Errorf("with --ignore-windows: %+v, want due at the end of the backoff", d)
	}

	rot := failed
	rot.CurrentKeyID, live = "EXO1", live[:1]
	in = Input{Now: fri, MaxAge: time.Hour, Live: live, Record: rot, Windows: weekdays09to16()}
	if d := Decide(in); d.Reason != ReasonBackoff || !d.Due.Equal(mon9) {
		t.Errorf("due rotation backing off past the window's close: %+v, want due at the next opening %s", d, mon9)
	}

	rec := failed
	rec.Rotation = &state.Rotation{Phase: state.PhaseCreated, NewKeyID: "EXO2", OldKeyIDs: []string{"EXO1"}}
	in = Input{Now: fri, MaxAge: time.Hour, Live: live, Record: rec, Windows: weekdays09to16()}
	if d := Decide(in); d.Reason != ReasonBackoff || !d.Due.Equal(fri.Add(Backoff(1))) {
		t.Errorf("interrupted rotation backing off: %+v, want due at the end of the backoff (a recovery waits for no window)", d)
	}
}
