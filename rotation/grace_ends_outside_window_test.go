package rotation

import (
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/state"
)

// A grace period that ends outside the policy's windows (Friday 15:30,
// with a 2-hour grace period, in a window that closes at 16:00) ends in a
// deletion at the next window's opening, Monday 09:00: that is the time
// `plan` must show (NEXT, next_due), not Friday 17:30, when nothing
// happens.
func TestGracePeriodEndingOutsideTheWindowsIsDueAtTheNextOpening(t *testing.T) {
	fri := time.Date(2026, 12, 11, 15, 30, 0, 0, time.UTC) // a Friday
	mon9 := time.Date(2026, 12, 14, 9, 0, 0, 0, time.UTC)
	live := []apiclient.Key{{ID: "EXO1", Name: "ci-x", RoleID: "r"}, {ID: "EXO0", Name: "ci-x", RoleID: "r"}}
	rec := state.Record{Name: "ci-x", RoleID: "r", CurrentKeyID: "EXO1", CurrentSince: fri,
		Rotation: &state.Rotation{Phase: state.PhaseDelivered, NewKeyID: "EXO1", OldKeyIDs: []string{"EXO0"},
			DeliveredAt: fri, DeleteAfter: fri.Add(2 * time.Hour)}}
	in := Input{Now: fri, MaxAge: 30 * 24 * time.Hour, GracePeriod: 2 * time.Hour, Live: live, Record: rec, Windows: weekdays09to16()}
	if d := Decide(in); d.Reason != ReasonGraceRunning || !d.Due.Equal(mon9) {
		t.Errorf("grace period ending Friday 17:30, after the window: %+v, want due Monday 09:00", d)
	}
	// One that ends inside a window is due then.
	in.Now, in.Record.Rotation.DeliveredAt, in.Record.Rotation.DeleteAfter = mon9, mon9, mon9.Add(2*time.Hour)
	if d := Decide(in); d.Reason != ReasonGraceRunning || !d.Due.Equal(mon9.Add(2*time.Hour)) {
		t.Errorf("grace period ending Monday 11:00: %+v, want due then", d)
	}
	in.IgnoreWindows = true
	in.Now, in.Record.Rotation.DeliveredAt, in.Record.Rotation.DeleteAfter = fri, fri, fri.Add(2*time.Hour)
	if d := Decide(in); !d.Due.Equal(fri.Add(2 * time.Hour)) {
		t.Errorf("--ignore-windows: %+v, want due at the end of the grace period", d)
	}
}
