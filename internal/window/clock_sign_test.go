package window

import "testing"

// fmt's %d takes a sign: "+9:00" and "09:+5" passed for times of day.
func TestParseClockRefusesSignsAndAnythingButDigits(t *testing.T) {
	for _, s := range []string{"+9:00", "09:+5", "-0:00", "0x:00", "09-00", " 9:00", "09:5 ", "9:00", "24:01", "09:60"} {
		if d, err := ParseClock(s); err == nil {
			t.Errorf("ParseClock(%q) = %v, want an error", s, d)
		}
	}
	for s, want := range map[string]int{"00:00": 0, "09:05": 545, "23:59": 1439, "24:00": 1440} {
		d, err := ParseClock(s)
		if err != nil || int(d.Minutes()) != want {
			t.Errorf("ParseClock(%q) = %v, %v; want %d minutes", s, d, err, want)
		}
	}
}
