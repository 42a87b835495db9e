// Package window owns maintenance windows: days of the week and a time of
// day range in an IANA time zone, when rotatord may create replacement keys
// and delete old ones. It answers two questions for an instant: is it in a
// window, and when does the next window open.
//
// Time zones come from the system database, with Go's embedded copy
// (time/tzdata) as the fallback, so a distroless image without
// /usr/share/zoneinfo still knows Europe/Zurich.
package window

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"time"
	_ "time/tzdata" // the fallback when the system has no zoneinfo
)

// Window is one weekly window: on Days, from Start to End (local time of
// Zone). End before Start wraps past midnight into the next day; End equal
// to Start is the whole day.
type Window struct {
	Days  [7]bool // by time.Weekday
	Start time.Duration
	End   time.Duration
	Zone  *time.Location
}

// Set is a policy's windows: an instant is in the set when it is in any
// of them. An empty Set is always open.
type Set []Window

var dayNames = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// ParseDays reads days as "mon", "mon-fri" (a range, wrapping past sunday:
// "fri-mon"), or "*" for every day, case-insensitive.
func ParseDays(specs []string) ([7]bool, error) {
	var days [7]bool
	if len(specs) == 0 {
		return days, errors.New("no days (want e.g. [mon-fri] or [\"*\"])")
	}
	for _, s := range specs {
		s = strings.TrimSpace(s)
		if s == "*" {
			for i := range days {
				days[i] = true
			}
			continue
		}
		// Looked up lower-cased, quoted as written: a message repeats a
		// word of the file, which the config package cuts when it is
		// long (a secret pasted here), and a word lower-cased is no
		// longer the file's.
		from, to, isRange := strings.Cut(s, "-")
		a, ok := dayNames[strings.ToLower(from)]
		if !ok {
			return days, fmt.Errorf("unknown day %q (want mon, tue, wed, thu, fri, sat, sun, a range such as mon-fri, or *)", from)
		}
		b := a
		if isRange {
			if b, ok = dayNames[strings.ToLower(to)]; !ok {
				return days, fmt.Errorf("unknown day %q (want mon, tue, wed, thu, fri, sat, sun)", to)
			}
		}
		for d := a; ; d = (d + 1) % 7 {
			days[d] = true
			if d == b {
				break
			}
		}
	}
	return days, nil
}

// ParseClock reads a time of day "HH:MM" (00:00 to 24:00).
func ParseClock(s string) (time.Duration, error) {
	// Exactly two digits, a colon, two digits: Sscanf's %d also takes a
	// sign ("+9:00", "09:+5"), which is no time of day anyone writes.
	digit := func(i int) (int, bool) { return int(s[i] - '0'), s[i] >= '0' && s[i] <= '9' }
	bad := func() (time.Duration, error) {
		return 0, fmt.Errorf("invalid time of day %q (want HH:MM, such as 09:00 or 16:30)", s)
	}
	if len(s) != 5 || s[2] != ':' {
		return bad()
	}
	h1, ok1 := digit(0)
	h2, ok2 := digit(1)
	m1, ok3 := digit(3)
	m2, ok4 := digit(4)
	h, m := h1*10+h2, m1*10+m2
	if !ok1 || !ok2 || !ok3 || !ok4 || m > 59 || h > 24 || (h == 24 && m != 0) {
		return bad()
	}
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute, nil
}

// LoadZone loads an IANA time zone name ("Europe/Zurich", "UTC"); empty is UTC.
func LoadZone(name string) (*time.Location, error) {
	if name == "" {
		return time.UTC, nil
	}
	if name == "Local" || name == "localtime" {
		// Go reads "Local" as the process's TZ, not as an IANA name, and
		// Debian's zoneinfo has "localtime" linked to /etc/localtime: the
		// same file would open its windows at other hours on another host.
		return nil, fmt.Errorf("time zone %q is the host's zone, not an IANA name: name the zone (such as Europe/Zurich) or use UTC", name)
	}
	// Names only a host's zoneinfo has: the file would pass validate on
	// a Debian host and be refused where only Go's embedded copy is
	// (a distroless image). The test holds this list to that copy.
	if rest, ok := strings.CutPrefix(name, "posix/"); ok {
		return nil, fmt.Errorf("time zone %q is this host's copy of %q, which Go's embedded zone database (the one an image without zoneinfo uses) does not have: write %q", name, rest, rest)
	}
	if rest, ok := strings.CutPrefix(name, "right/"); ok {
		return nil, fmt.Errorf("time zone %q is %q counting leap seconds, which clocks synced by NTP do not, and only this host's zoneinfo has it (not Go's embedded copy): write %q", name, rest, rest)
	}
	if name == "posixrules" {
		return nil, fmt.Errorf("time zone %q is this host's default rules file, not a zone: name the zone (such as Europe/Zurich) or use UTC", name)
	}
	// A name written as a path ("./Europe/Zurich", "Europe//Zurich"):
	// the host's zoneinfo opens it, Go's embedded copy, looked up by
	// exact name, does not.
	if clean := path.Clean(name); clean != name {
		if _, err := LoadZone(clean); err == nil { // clean is clean: no loop
			return nil, fmt.Errorf("time zone %q is a path to a zone, which only this host's zoneinfo opens (not Go's embedded copy, the one an image without zoneinfo uses): write %q", name, clean)
		}
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q (want an IANA name such as Europe/Zurich)", name)
	}
	return loc, nil
}

// Contains reports whether t is in the window.
func (w Window) Contains(t time.Time) bool {
	local := t.In(w.Zone)
	day := local.Weekday()
	tod := sinceMidnight(local)
	switch {
	case w.Start == w.End:
		return w.Days[day]
	case w.Start < w.End:
		return w.Days[day] && tod >= w.Start && tod < w.End
	default: // wraps midnight: the part after midnight belongs to the day before
		return (w.Days[day] && tod >= w.Start) || (w.Days[(day+6)%7] && tod < w.End)
	}
}

// Contains reports whether t is in any window of the set (an empty set
// always).
func (s Set) Contains(t time.Time) bool {
	if len(s) == 0 {
		return true
	}
	for _, w := range s {
		if w.Contains(t) {
			return true
		}
	}
	return false
}

// NextOpen returns t when t is in the set, else the first window start
// after t (two weeks ahead at most; zero for a set that never opens).
func (s Set) NextOpen(t time.Time) time.Time {
	if s.Contains(t) {
		return t
	}
	// Candidates: every window's start on each of the next eight days.
	var best time.Time
	for _, w := range s {
		local := t.In(w.Zone)
		// Two weeks: a weekly window that falls in the hour a spring DST
		// change skips opens again a week later.
		for d := 0; d <= 15; d++ {
			// The wall time, not midnight plus a duration: right on a
			// day whose clocks change.
			open := w.Start
			if w.Start == w.End {
				open = 0 // the whole day: it opens at midnight
			}
			h, m := int(open/time.Hour), int(open%time.Hour/time.Minute)
			found := false
			for _, start := range wallInstants(local.Year(), local.Month(), local.Day()+d, h, m, w.Zone) {
				if !start.After(t) || !w.Contains(start) {
					continue
				}
				if best.IsZero() || start.Before(best) {
					best = start
				}
				found = true
				break
			}
			if found {
				break
			}
		}
		// A window also opens where the zone's offset changes into it: a
		// window that closed in the hour clocks go back over is open
		// again when that hour repeats, though no start is shown then.
		for c, n := t, 0; n < 8; n++ {
			_, end := c.In(w.Zone).ZoneBounds()
			if end.IsZero() || end.Sub(t) > 15*24*time.Hour || (!best.IsZero() && !end.Before(best)) {
				break
			}
			if end.After(t) && w.Contains(end) {
				best = end
				break
			}
			c = end
		}
	}
	return best
}

// wallInstants returns, in order, the instants at which the clock in zone
// shows h:m on that day: one on most days, two when clocks go back across
// it, and when clocks jump over it, the first instant after the jump (the
// window opens then, if it is still open).
func wallInstants(year int, month time.Month, day, h, m int, zone *time.Location) []time.Time {
	t := time.Date(year, month, day, h, m, 0, 0, zone)
	want := time.Date(year, month, day, 0, 0, 0, 0, time.UTC) // the date, normalised
	var out []time.Time
	for _, off := range []time.Duration{-3 * time.Hour, -2 * time.Hour, -time.Hour, -30 * time.Minute, 0, 30 * time.Minute, time.Hour, 2 * time.Hour, 3 * time.Hour} {
		c := t.Add(off).In(zone)
		if c.Year() == want.Year() && c.YearDay() == want.YearDay() && c.Hour() == h%24 && c.Minute() == m {
			if len(out) == 0 || !c.Equal(out[len(out)-1]) {
				out = append(out, c)
			}
		}
	}
	if len(out) == 0 {
		// Skipped: the window opens where the zone's new offset starts,
		// right after the gap. time.Date puts a skipped wall time on
		// either side of it (east of Greenwich after the gap, west of it
		// before), so the change is the start of t's zone period or its
		// end, whichever is within the day's reach of t.
		start, end := t.ZoneBounds()
		switch {
		case !start.IsZero() && t.Sub(start) <= 3*time.Hour:
			out = append(out, start)
		case !end.IsZero() && end.Sub(t) <= 3*time.Hour:
			out = append(out, end)
		}
	}
	return out
}

func sinceMidnight(t time.Time) time.Duration {
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute +
		time.Duration(t.Second())*time.Second + time.Duration(t.Nanosecond())
}

// LongestClosed returns the longest stretch in the fortnight after from
// during which no window of the set is open, to the minute: how long a due
// rotation may have to wait. It is zero for an empty set, and the whole
// fortnight for a set that never opens. Alerts on key age add it, so a key
// waiting for its window does not raise one.
func (s Set) LongestClosed(from time.Time) time.Duration {
	if len(s) == 0 {
		return 0
	}
	const span = 14 * 24 * time.Hour
	start := from.Truncate(time.Minute)
	var longest time.Duration
	runStart := time.Time{}
	for t := start; t.Before(start.Add(span)); t = t.Add(time.Minute) {
		if s.Contains(t) {
			if !runStart.IsZero() {
				longest = max(longest, t.Sub(runStart))
				runStart = time.Time{}
			}
			continue
		}
		if runStart.IsZero() {
			runStart = t
		}
	}
	if !runStart.IsZero() {
		longest = max(longest, start.Add(span).Sub(runStart))
	}
	return longest
}

// NextOpening returns the first instant after t at which the set goes from
// closed to open (zero for an empty set or one that never opens): when a
// rotation that waited for a window may go. A schedule that never ticks
// inside a window still gets a pass then.
func (s Set) NextOpening(t time.Time) time.Time {
	if len(s) == 0 {
		return time.Time{}
	}
	x := t
	if s.Contains(x) {
		// Find where the open stretch ends, to the minute (windows open
		// and close on whole minutes).
		x = x.Truncate(time.Minute)
		end := t.Add(15 * 24 * time.Hour)
		for s.Contains(x) || !x.After(t) {
			x = x.Add(time.Minute)
			if x.After(end) {
				return time.Time{} // always open
			}
		}
	}
	return s.NextOpen(x)
}
