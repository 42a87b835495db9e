package window

// Review of issue 14 (windows): tests that try to break NextOpen and
// friends. A failing test here is a defect.

import (
	"testing"
	"time"
)

// On the day clocks go back, a wall time in the repeated hour happens
// twice; a window starting then opens at the first. time.Date picks the
// second for such a time, so NextOpen says the window opens an hour late
// (Europe/Zurich, 25 October 2026: 02:15 CEST is 00:15 UTC, NextOpen says
// 02:15 CET, 01:15 UTC) while Contains already says it is open: `plan`
// and the deletion-due metric show the wrong opening.
func TestNextOpenOnTheDayClocksGoBack(t *testing.T) {
	zurich, err := time.LoadLocation("Europe/Zurich")
	if err != nil {
		t.Fatal(err)
	}
	days, _ := ParseDays([]string{"sun"})
	s := Set{{Days: days, Start: 2*time.Hour + 15*time.Minute, End: 3*time.Hour + 45*time.Minute, Zone: zurich}}
	from := time.Date(2026, 10, 24, 12, 0, 0, 0, time.UTC)
	want := time.Date(2026, 10, 25, 0, 15, 0, 0, time.UTC)
	if !s.Contains(want) || s.Contains(want.Add(-time.Minute)) {
		t.Fatalf("test premise: the window opens at %s", want)
	}
	if got := s.NextOpen(from); !got.Equal(want) {
		t.Errorf("NextOpen(%s) = %s (%s), want %s: the window is open an hour before", from, got, got.UTC(), want)
	}
}
