package config

import (
	"fmt"
	"time"

	"github.com/rotatord/rotatord/internal/window"
)

// windows checks a policy's windows and parses them.
func (v *validator) windows(at string, p *Policy) {
	var set window.Set
	ok := true
	for i, w := range p.Windows {
		wat := fmt.Sprintf("%s.windows[%d]", at, i)
		days, err := window.ParseDays(w.Days)
		if err != nil {
			v.addf(wat+".days", "%v", err)
			ok = false
		}
		start, err := window.ParseClock(w.Start)
		if err != nil {
			v.addf(wat+".start", "%v", err)
			ok = false
		} else if start == 24*time.Hour {
			v.addf(wat+".start", "24:00 is an end, not a start (use 00:00)")
			ok = false
		}
		end, err := window.ParseClock(w.End)
		if err != nil {
			v.addf(wat+".end", "%v", err)
			ok = false
		}
		zone, err := window.LoadZone(w.TimeZone)
		if err != nil {
			v.addf(wat+".time_zone", "%v", err)
			ok = false
		}
		set = append(set, window.Window{Days: days, Start: start, End: end % (24 * time.Hour), Zone: zone})
	}
	if ok {
		p.windows = set
	}
}
