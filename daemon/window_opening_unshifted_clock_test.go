package daemon

import (
	"testing"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/rotatord/rotatord/internal/window"
)

// TestWindowOpeningsUnmovedBySlowClockRead: with the daemon's clock not
// shifted, the window openings are the schedule's runs exactly, however
// long the goroutine waits between reading the daemon's clock and the
// real one (preempted, a GC pause: here a sleep after the read). A gap
// of half a millisecond or more used to round into a shift of the
// opening (09:00:00.002), and a second run of the same opening when cron
// asked for the next run within that gap of it.
func TestWindowOpeningsUnmovedBySlowClockRead(t *testing.T) {
	base, err := cron.ParseStandard("0 3 * * *")
	if err != nil {
		t.Fatal(err)
	}
	days, _ := window.ParseDays([]string{"*"})
	w := window.Set{{Days: days, Start: 9 * time.Hour, End: 16 * time.Hour, Zone: time.UTC}}
	slowRead := func() time.Time {
		now := time.Now()
		time.Sleep(2 * time.Millisecond) // descheduled after the read
		return now
	}
	s := withWindowOpenings(base, w, slowRead)
	opens := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	if got := s.Next(opens.Add(-time.Hour)); !got.Equal(opens) {
		t.Errorf("next run after 08:00 is %s, want the opening %s", got, opens)
	}
	// cron asks for the next run just after running the opening's.
	if got, want := s.Next(opens.Add(time.Microsecond)), time.Date(2026, 12, 8, 3, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("next run after the opening's is %s, want %s (the schedule's)", got, want)
	}
}
