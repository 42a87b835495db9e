package window

import (
	"testing"
	"time"
)

func mustWindow(t *testing.T, days []string, start, end, zone string) Window {
	t.Helper()
	d, err := ParseDays(days)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ParseClock(start)
	if err != nil {
		t.Fatal(err)
	}
	e, err := ParseClock(end)
	if err != nil {
		t.Fatal(err)
	}
	z, err := LoadZone(zone)
	if err != nil {
		t.Fatal(err)
	}
	return Window{Days: d, Start: s, End: e, Zone: z}
}

func TestOfficeHoursInZurich(t *testing.T) {
	zurich, _ := time.LoadLocation("Europe/Zurich")
	w := Set{mustWindow(t, []string{"mon-fri"}, "09:00", "16:00", "Europe/Zurich")}
	at := func(day, h, m int) time.Time { return time.Date(2026, 12, day, h, m, 0, 0, zurich) } // 2026-12-07 is a Monday
	for _, tc := range []struct {
		t    time.Time
		in   bool
		next time.Time
	}{
		{at(7, 9, 0), true, at(7, 9, 0)},
		{at(7, 15, 59), true, at(7, 15, 59)},
		{at(7, 16, 0), false, at(8, 9, 0)},
		{at(7, 8, 59), false, at(7, 9, 0)},
		{at(11, 17, 0), false, at(14, 9, 0)}, // Friday evening: Monday
		{at(12, 12, 0), false, at(14, 9, 0)}, // Saturday
	} {
		if got := w.Contains(tc.t); got != tc.in {
			t.Errorf("Contains(%s) = %v, want %v", tc.t, got, tc.in)
		}
		if got := w.NextOpen(tc.t); !got.Equal(tc.next) {
			t.Errorf("NextOpen(%s) = %s, want %s", tc.t, got, tc.next)
		}
	}
	// The same instant in UTC: 08:30 UTC is 09:30 in Zurich in December.
	if !w.Contains(time.Date(2026, 12, 7, 8, 30, 0, 0, time.UTC)) {
		t.Error("the window is not read in its own zone")
	}
}

func TestWindowWrapsMidnight(t *testing.T) {
	w := Set{mustWindow(t, []string{"fri"}, "22:00", "02:00", "UTC")}
	at := func(day, h int) time.Time { return time.Date(2026, 12, day, h, 0, 0, 0, time.UTC) } // the 11th is a Friday
	if !w.Contains(at(11, 23)) || !w.Contains(at(12, 1)) {
		t.Error("Friday 23:00 and Saturday 01:00 are in a Friday 22:00-02:00 window")
	}
	if w.Contains(at(12, 2)) || w.Contains(at(11, 1)) {
		t.Error("Saturday 02:00 and Friday 01:00 are not")
	}
	if got := w.NextOpen(at(12, 3)); !got.Equal(at(18, 22)) {
		t.Errorf("NextOpen = %s, want next Friday 22:00", got)
	}
}

func TestEmptySetIsAlwaysOpen(t *testing.T) {
	now := time.Now()
	if !(Set{}).Contains(now) || !(Set{}).NextOpen(now).Equal(now) {
		t.Error("an empty set is not always open")
	}
}

func TestParseErrors(t *testing.T) {
	if _, err := ParseDays([]string{"monday"}); err == nil {
		t.Error("monday parsed")
	}
	if _, err := ParseDays(nil); err == nil {
		t.Error("no days parsed")
	}
	if d, err := ParseDays([]string{"fri-mon"}); err != nil || !d[time.Saturday] || !d[time.Monday] || d[time.Tuesday] {
		t.Errorf("fri-mon = %v, %v", d, err)
	}
	for _, s := range []string{"9:00", "25:00", "12:60", "24:01", "noon"} {
		if _, err := ParseClock(s); err == nil {
			t.Errorf("%q parsed", s)
		}
	}
	if _, err := LoadZone("Mars/Olympus"); err == nil {
		t.Error("Mars/Olympus loaded")
	}
}

func TestWholeDayWindowOpensAtMidnight(t *testing.T) {
	w := Set{mustWindow(t, []string{"mon"}, "09:00", "09:00", "UTC")}
	sun := time.Date(2026, 12, 13, 12, 0, 0, 0, time.UTC)
	if got, want := w.NextOpen(sun), time.Date(2026, 12, 14, 0, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("NextOpen = %s, want Monday 00:00 (a whole-day window)", got)
	}
}

// Europe/Zurich skips 02:00-03:00 on 2025-03-30.
func TestWindowsAcrossTheSpringDSTGap(t *testing.T) {
	zurich, _ := time.LoadLocation("Europe/Zurich")
	inGap := Set{mustWindow(t, []string{"sun"}, "02:00", "03:00", "Europe/Zurich")}
	from := time.Date(2025, 3, 23, 3, 30, 0, 0, zurich)
	if got, want := inGap.NextOpen(from), time.Date(2025, 4, 6, 2, 0, 0, 0, zurich); !got.Equal(want) {
		t.Errorf("a window in the skipped hour: NextOpen = %s, want the Sunday after (%s)", got, want)
	}
	partly := Set{mustWindow(t, []string{"sun"}, "02:30", "03:15", "Europe/Zurich")}
	if got, want := partly.NextOpen(time.Date(2025, 3, 29, 12, 0, 0, 0, zurich)), time.Date(2025, 3, 30, 3, 0, 0, 0, zurich); !got.Equal(want) {
		t.Errorf("a window partly in the skipped hour: NextOpen = %s, want its first instant %s", got, want)
	}
}

func TestLongestClosed(t *testing.T) {
	zurich, _ := time.LoadLocation("Europe/Zurich")
	from := time.Date(2026, 12, 9, 12, 0, 0, 0, zurich) // a Wednesday
	office := Set{mustWindow(t, []string{"mon-fri"}, "09:00", "16:00", "Europe/Zurich")}
	// Friday 16:00 to Monday 09:00.
	if got, want := office.LongestClosed(from), 65*time.Hour; got != want {
		t.Errorf("office hours: longest closed %v, want %v", got, want)
	}
	nightly := Set{mustWindow(t, []string{"mon-sun"}, "22:00", "02:00", "Europe/Zurich")}
	if got, want := nightly.LongestClosed(from), 20*time.Hour; got != want {
		t.Errorf("nightly: longest closed %v, want %v", got, want)
	}
	if got := (Set{}).LongestClosed(from); got != 0 {
		t.Errorf("no windows: longest closed %v, want 0", got)
	}
	// Two windows: the gap is between them, not within either.
	two := Set{
		mustWindow(t, []string{"tue"}, "10:00", "11:00", "UTC"),
		mustWindow(t, []string{"thu"}, "10:00", "11:00", "UTC"),
	}
	if got, want := two.LongestClosed(from), 5*24*time.Hour-time.Hour; got != want {
		t.Errorf("tue+thu: longest closed %v, want %v", got, want)
	}
}

func TestNextOpening(t *testing.T) {
	zurich, _ := time.LoadLocation("Europe/Zurich")
	office := Set{mustWindow(t, []string{"mon-fri"}, "09:00", "16:00", "Europe/Zurich")}
	at := func(day, h, m int) time.Time { return time.Date(2026, 12, day, h, m, 0, 0, zurich) } // 2026-12-07 is a Monday
	for _, tc := range []struct{ t, want time.Time }{
		{at(7, 3, 0), at(7, 9, 0)},    // closed: the opening ahead
		{at(7, 9, 0), at(8, 9, 0)},    // at the opening: the next one
		{at(7, 12, 30), at(8, 9, 0)},  // open: after it closes
		{at(11, 15, 0), at(14, 9, 0)}, // Friday afternoon: Monday
	} {
		if got := office.NextOpening(tc.t); !got.Equal(tc.want) {
			t.Errorf("NextOpening(%s) = %s, want %s", tc.t, got, tc.want)
		}
	}
	always := Set{mustWindow(t, []string{"*"}, "00:00", "24:00", "UTC")}
	if got := always.NextOpening(at(7, 3, 0)); !got.IsZero() {
		t.Errorf("a set always open: NextOpening = %s, want zero", got)
	}
	if got := (Set{}).NextOpening(at(7, 3, 0)); !got.IsZero() {
		t.Errorf("no windows: NextOpening = %s, want zero", got)
	}
}
