package window

import (
	"testing"
	"time"
)

// West of Greenwich, Go's time.Date reads a wall time the spring change
// skips with the offset of after the change, which lands before the gap
// (02:30 on 8 March 2026 in New York is 01:30 EST). The window's opening
// that day is the first instant after the gap, 03:00 EDT, and the zone
// period that holds 01:30 EST began in November: NextOpen must not take
// that one's start (and then skip the day).
func TestNextOpenInTheSpringGapWestOfGreenwich(t *testing.T) {
	for _, c := range []struct {
		zone       string
		days       []string
		start, end string
		from, want time.Time // wall times in zone
	}{
		// Sunday 02:30-05:00: the window opens at 03:00 EDT.
		{"America/New_York", []string{"sun"}, "02:30", "05:00",
			wall(2026, 3, 7, 12, 0), wall(2026, 3, 8, 3, 0)},
		// St. John's: 02:00 NST jumps to 03:00 NDT.
		{"America/St_Johns", []string{"sun"}, "02:30", "22:00",
			wall(2028, 3, 11, 3, 58), wall(2028, 3, 12, 3, 0)},
		// Havana changes at midnight: a whole Sunday opens at 01:00 CDT.
		{"America/Havana", []string{"sun"}, "00:00", "24:00",
			wall(2023, 3, 10, 23, 34), wall(2023, 3, 12, 1, 0)},
		// Nuuk (Godthab) changed at 22:00 on a Saturday in 2022.
		{"America/Nuuk", []string{"sat"}, "22:00", "04:30",
			wall(2022, 3, 25, 11, 14), wall(2022, 3, 26, 23, 0)},
	} {
		zone, err := time.LoadLocation(c.zone)
		if err != nil {
			t.Fatal(err)
		}
		s := Set{mustWindow(t, c.days, c.start, c.end, c.zone)}
		from := inZone(c.from, zone)
		want := inZone(c.want, zone)
		if !s.Contains(want) || s.Contains(want.Add(-time.Second)) {
			t.Fatalf("%s: test premise: the window opens at %s", c.zone, want)
		}
		if got := s.NextOpen(from); !got.Equal(want) {
			t.Errorf("%s %v %s-%s: NextOpen(%s) = %s, want %s", c.zone, c.days, c.start, c.end, from, got, want)
		}
		if got := s.NextOpening(from); !got.Equal(want) {
			t.Errorf("%s %v %s-%s: NextOpening(%s) = %s, want %s", c.zone, c.days, c.start, c.end, from, got, want)
		}
	}
}

func wall(y int, m time.Month, d, h, min int) time.Time {
	return time.Date(y, m, d, h, min, 0, 0, time.UTC)
}

// inZone reads the wall time w in zone; after a gap the wall time given is
// one that exists.
func inZone(w time.Time, zone *time.Location) time.Time {
	return time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), 0, 0, zone)
}

// When clocks go back, a window that closed in the hour about to repeat
// opens again when it repeats: Sunday 00:00-01:30 in London on 31 October
// 2027 is open 00:00-01:30 BST and again 01:00-01:30 GMT. The second
// opening is at no window start, but at the change itself: NextOpen and
// NextOpening must find it, as Contains says it is open then.
func TestNextOpenWhenTheRepeatedHourReopensAWindow(t *testing.T) {
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	s := Set{mustWindow(t, []string{"sun"}, "00:00", "01:30", "Europe/London")}
	change := time.Date(2027, 10, 31, 1, 0, 0, 0, time.UTC) // 02:00 BST, now 01:00 GMT
	closed := change.Add(-15 * time.Minute)                 // 01:45 BST
	if s.Contains(closed) || !s.Contains(change) || !s.Contains(closed.Add(-20*time.Minute)) {
		t.Fatalf("test premise: closed at %s, open again at %s", closed.In(london), change.In(london))
	}
	if got := s.NextOpen(closed); !got.Equal(change) {
		t.Errorf("NextOpen(%s) = %s, want %s", closed.In(london), got, change.In(london))
	}
	first := time.Date(2027, 10, 31, 0, 10, 0, 0, london)
	if got := s.NextOpening(first); !got.Equal(change) {
		t.Errorf("NextOpening(%s) = %s, want %s", first, got, change.In(london))
	}
}
