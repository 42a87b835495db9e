package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/robfig/cron/v3"
)

// human writes a duration computed here in the file's syntax ("1d",
// "1h30m"), to the millisecond.
func human(d time.Duration) string { return model.Duration(d).String() }

// MinSchedule is the shortest time allowed between two runs of a policy.
// Each run lists every API key of the organization (one request per page)
// and reads the state of every name it manages; a schedule faster than
// this spends the API's rate limit on listings without rotating any key
// sooner in a useful way (keys live for hours or days, and consumers need
// time to pick a new one up). It catches "@every 0s" and "@every 500ms",
// which robfig/cron silently raises to one second. A 5-field cron spec
// cannot run more often than once a minute, so only @every can go below it.
const MinSchedule = 10 * time.Second

// EnvTestMinSchedule lowers MinSchedule, for tests and the chaos campaign
// that need a pass every second. Its name says what it is for, so nobody
// sets it in production by accident; it can only lower the minimum.
const EnvTestMinSchedule = "ROTATORD_TEST_MIN_SCHEDULE"

// minSchedule returns MinSchedule, or the lower duration getenv gives for
// EnvTestMinSchedule. An unparsable value is an error, so a typo does not
// silently leave the tests failing on the minimum.
func minSchedule(getenv func(string) string) (time.Duration, error) {
	v := strings.TrimSpace(getenv(EnvTestMinSchedule))
	if v == "" {
		return MinSchedule, nil
	}
	d, err := ParseDuration(v)
	if err != nil || d < 0 {
		return MinSchedule, fmt.Errorf("%s=%q: want a duration such as 1s", EnvTestMinSchedule, v)
	}
	return min(d.Duration(), MinSchedule), nil
}

// schedule checks that the policy does not run more often than the
// minimum, that it runs at all, and warns when the time between two runs
// exceeds max_age: a key would then live well beyond max_age before a run
// sees it is due.
func (v *validator) schedule(at string, p *Policy) {
	floor, err := minSchedule(v.getenv)
	if err != nil {
		v.addf(at+".schedule", "%v", err)
	}
	if every, ok := everyDelay(p.Schedule); ok && every < floor {
		v.addf(at+".schedule", "%q runs more often than the minimum, every %s: each run lists every API key of the organization (%s lowers it, for tests only)",
			p.Schedule, human(floor), EnvTestMinSchedule)
		return
	}
	from := time.Now()
	first := p.schedule.Next(from)
	if first.IsZero() {
		v.addf(at+".schedule", "%q never runs", p.Schedule)
		return
	}
	if p.MaxAge <= 0 {
		return
	}
	if gap, ok := gapOver(p.schedule, first, p.MaxAge.Duration()); ok {
		gapText := "more than four years"
		if gap > 0 {
			gapText = human(gap)
		}
		maxAge := v.written(at+".max_age", p.MaxAge)
		if p.MaxAge.Duration() < floor {
			// No schedule may run that often: say what happens instead.
			v.warnf(at+".schedule", "%q leaves up to %s between runs, more than max_age %s, which is shorter than the minimum time between runs, %s: every run rotates every key the policy manages, once the grace period of its last rotation is over (a key can get up to %s older than max_age before a run rotates it)",
				p.Schedule, gapText, maxAge, human(floor), gapText)
			return
		}
		v.warnf(at+".schedule", "%q leaves up to %s between runs, more than max_age %s: a key can get that much older than max_age before a run rotates it (run the policy at least every %s)",
			p.Schedule, gapText, maxAge, maxAge)
	}
}

// everyDelay returns the interval of an "@every" schedule as written
// (robfig/cron raises anything below a second to one second).
func everyDelay(spec string) (time.Duration, bool) {
	spec = strings.TrimSpace(spec)
	if strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=") {
		_, spec, _ = strings.Cut(spec, " ")
		spec = strings.TrimSpace(spec)
	}
	rest, ok := strings.CutPrefix(spec, "@every ")
	if !ok {
		return 0, false
	}
	d, err := time.ParseDuration(strings.TrimSpace(rest))
	if err != nil {
		return 0, false
	}
	return d, true
}

// gapOver looks for two consecutive runs of s more than limit apart, over
// a year of runs from first. It returns the first such gap found (0 when
// the schedule stops running), and false when there is none. It does not
// visit every run of a dense schedule: from a run a it looks at the first
// run after a+limit/2; when that comes within limit/2, no two consecutive
// runs between a and it can be more than limit apart, and the search
// carries on from there. Otherwise it walks the runs in between one by one.
func gapOver(s cron.Schedule, first time.Time, limit time.Duration) (time.Duration, bool) {
	if c, ok := s.(cron.ConstantDelaySchedule); ok {
		return c.Delay, c.Delay > limit
	}
	const maxSteps = 100000
	end := first.Add(366*24*time.Hour + limit)
	half := limit / 2
	a := first
	for steps := 0; a.Before(end) && steps < maxSteps; steps++ {
		t := a.Add(half)
		z := s.Next(t)
		if z.IsZero() {
			return 0, true
		}
		if z.Sub(t) > half {
			for b := a; b.Before(z) && steps < maxSteps; steps++ {
				c := s.Next(b)
				if c.IsZero() {
					return 0, true
				}
				if c.Sub(b) > limit {
					return c.Sub(b), true
				}
				b = c
			}
		}
		a = z
	}
	return 0, false
}
