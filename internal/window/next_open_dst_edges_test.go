package window

// Second review of the issue 14 fixes (windows): tests that try to break
// earliestWallTime and NextOpening. A failing test here is a defect.

import (
	"testing"
	"time"
)

// On the day clocks go back, a window that ends inside the repeated hour
// opens twice: Sunday 01:30-01:45 in New York on 1 November 2026 is open
// 01:30-01:45 EDT (05:30 UTC) and again 01:30-01:45 EST (06:30 UTC).
// earliestWallTime now always picks the first 01:30, which is in the past
// once the first stretch closed, so NextOpen skips the second opening and
// answers a week later; NextOpening (the daemon's extra pass) does the
// same. Before the fix time.Date picked the second 01:30 and this worked:
// the fix traded one side of the repeated hour for the other.
func TestNextOpenSecondOpeningInTheRepeatedHour(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	days, _ := ParseDays([]string{"sun"})
	s := Set{{Days: days, Start: time.Hour + 30*time.Minute, End: time.Hour + 45*time.Minute, Zone: ny}}
	first := time.Date(2026, 11, 1, 5, 30, 0, 0, time.UTC)
	second := time.Date(2026, 11, 1, 6, 30, 0, 0, time.UTC)
	if !s.Contains(first) || !s.Contains(second) || s.Contains(second.Add(-time.Minute)) || s.Contains(first.Add(-time.Minute)) {
		t.Fatalf("test premise: the window opens at %s and again at %s", first, second)
	}
	between := time.Date(2026, 11, 1, 6, 0, 0, 0, time.UTC)
	if got := s.NextOpen(between); !got.Equal(second) {
		t.Errorf("NextOpen(%s) = %s, want %s: the window opens again 30 minutes later", between, got.UTC(), second)
	}
	if got := s.NextOpening(first.Add(5 * time.Minute)); !got.Equal(second) {
		t.Errorf("NextOpening(%s) = %s, want %s", first.Add(5*time.Minute), got.UTC(), second)
	}
}

// Lord Howe Island moves its clocks by 30 minutes: on 4 October 2026 the
// wall clock jumps from 02:00 to 02:30. A Sunday window 02:15-03:00 is
// open from 02:30 (the first instant after the gap) to 03:00. NextOpen's
// gap check compares hours only: time.Date normalizes 02:15 to 02:45,
// whose hour is still 2, so NextOpen says 02:45, a quarter of an hour
// after the window opened (Contains already says open at 02:30).
func TestNextOpenHalfHourDSTGap(t *testing.T) {
	lh, err := time.LoadLocation("Australia/Lord_Howe")
	if err != nil {
		t.Fatal(err)
	}
	days, _ := ParseDays([]string{"sun"})
	s := Set{{Days: days, Start: 2*time.Hour + 15*time.Minute, End: 3 * time.Hour, Zone: lh}}
	from := time.Date(2026, 10, 3, 12, 0, 0, 0, lh)
	open := time.Date(2026, 10, 4, 2, 30, 0, 0, lh)
	if open.Hour() != 2 || open.Minute() != 30 || !s.Contains(open) || s.Contains(open.Add(-time.Minute)) {
		t.Fatalf("test premise: the window opens at %s (%s)", open, open.UTC())
	}
	if got := s.NextOpen(from); !got.Equal(open) {
		t.Errorf("NextOpen(%s) = %s, want %s", from, got, open)
	}
}
