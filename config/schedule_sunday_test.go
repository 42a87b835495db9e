package config

import (
	"strings"
	"testing"
	"time"
)

// cron(8), and the crontab lines operators copy, read 7 in the
// day-of-week field as Sunday; robfig/cron knows 0-6 only and refused
// "0 3 * * 7" ("end of range (7) above maximum (6)").
func TestScheduleReadsSevenAsSunday(t *testing.T) {
	// 2026-12-07 is a Monday.
	from := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for spec, want := range map[string]time.Time{
		"0 3 * * 7":             time.Date(2026, 12, 13, 3, 0, 0, 0, time.UTC),
		"0 3 * * 5-7":           time.Date(2026, 12, 11, 3, 0, 0, 0, time.UTC),
		"0 3 * * 2,7":           time.Date(2026, 12, 8, 3, 0, 0, 0, time.UTC),
		"CRON_TZ=UTC 0 3 * * 7": time.Date(2026, 12, 13, 3, 0, 0, 0, time.UTC),
		"0 3 * * 0":             time.Date(2026, 12, 13, 3, 0, 0, 0, time.UTC),
		"0 3 7 * *":             time.Date(2027, 1, 7, 3, 0, 0, 0, time.UTC), // the day of the month stays 7
		"0 3 * * MON":           time.Date(2026, 12, 14, 3, 0, 0, 0, time.UTC),
	} {
		s, err := parseSchedule(spec)
		if err != nil {
			t.Errorf("%q: %v", spec, err)
			continue
		}
		if got := s.Next(from); !got.Equal(want) {
			t.Errorf("%q: next after %s is %s, want %s", spec, from, got, want)
		}
	}
	for _, spec := range []string{"0 3 * * 8", "0 3 * * 6-8"} {
		if _, err := parseSchedule(spec); err == nil {
			t.Errorf("%q accepted", spec)
		}
	}
}

// "7-7" is Sunday to cron(8) too, and was refused with a message about a
// range the file does not hold ("beginning of range (7) beyond end of
// range (6): 7-6"); a range from 8 to 7 was refused as "8-6", also not in
// the file. The first is Sunday; the second is refused in its own words.
func TestScheduleSevenToSevenIsSunday(t *testing.T) {
	from := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for _, spec := range []string{"0 3 * * 7-7", "0 3 * * 1,7-7"} {
		s, err := parseSchedule(spec)
		if err != nil {
			t.Errorf("%q: %v", spec, err)
			continue
		}
		if spec == "0 3 * * 7-7" {
			if got, want := s.Next(from), time.Date(2026, 12, 13, 3, 0, 0, 0, time.UTC); !got.Equal(want) {
				t.Errorf("%q: next is %s, want %s", spec, got, want)
			}
		}
	}
	_, err := parseSchedule("0 3 * * 8-7")
	if err == nil || !strings.Contains(err.Error(), "8-7") {
		t.Errorf(`"0 3 * * 8-7": want an error quoting 8-7, got %v`, err)
	}
}
