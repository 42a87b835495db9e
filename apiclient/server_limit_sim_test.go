package apiclient

import (
	"testing"
	"time"
)

// simLimitedServer drives the adaptive rate and the window in flight, on a
// fake clock in steps of a millisecond, against a server that lets
// through limit requests a second (a token bucket of burst, full at
// first) and serves at most inFlight at once (0: any number). Answers
// take lat, refusals (429 with Retry-After: ra) a tenth of it. The
// client always has requests to send. It returns the requests served.
func simLimitedServer(limit, burst float64, inFlight int, ra, lat time.Duration, window int, dur time.Duration) (served, refused int, a *adaptiveLimit, f *inFlight) {
	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }
	a = newAdaptiveLimit(1000, 1000, clock)
	f = newInFlight(window, clock)
	// The client's own bucket, kept here: rate.Limiter's SetLimit reads
	// the real clock.
	tokens, last := burst, now
	ctok, clast := 1000.0, now
	type req struct {
		at       time.Time
		ok, full bool
	}
	var pending []req
	serving := 0
	for end := now.Add(dur); now.Before(end); now = now.Add(time.Millisecond) {
		kept := pending[:0]
		for _, r := range pending {
			if now.Before(r.at) {
				kept = append(kept, r)
				continue
			}
			if r.ok {
				serving--
				served++
				a.succeeded()
				f.succeeded()
			} else {
				refused++
				a.pushedBack(ra)
				f.pushedBack(r.full)
			}
			f.release()
		}
		pending = kept
		for a.pauseLeft() <= 0 {
			full, ok := f.tryAcquire()
			if !ok {
				break
			}
			r := a.rate()
			ctok = min(float64(a.burstAt(r)), ctok+now.Sub(clast).Seconds()*r)
			clast = now
			if ctok < 1 {
				f.release()
				break
			}
			ctok--
			tokens = min(burst, tokens+now.Sub(last).Seconds()*limit)
			last = now
			q := req{full: full, at: now.Add(lat / 10)}
			if (inFlight == 0 || serving < inFlight) && tokens >= 1 {
				tokens--
				serving++
				q.ok, q.at = true, now.Add(lat)
			}
			pending = append(pending, q)
		}
	}
	return served, refused, a, f
}

// A server that serves 2 at once: each of its refusals comes right after
// a Retry-After pause, one among the last second's answers from before
// the pause, too few to shrink the window: a probe from 2 to 3 that
// failed so was kept, and 42% of the 100 a second it allows got through
// (95% before the share gate).
func TestServerInFlightLimitShrinksTheWindow(t *testing.T) {
	served, refused, a, f := simLimitedServer(1e9, 1e9, 2, time.Second, 20*time.Millisecond, 4, 120*time.Second)
	// 2 at once, 20 ms each: 100 a second at most.
	if got := float64(served) / 120 / 100; got < 0.8 {
		t.Errorf("%.2f of the bound served (%d refused), window %d, rate %.1f, want 0.8 at least", got, refused, f.allowed(), a.rate())
	}
}

// A server limit a little below the rate the client climbs to refuses
// about one request a Retry-After pause: one answer in 60 or so of the
// last second. A rule that lowered the rate only when 3% of the last
// second's answers were refused (meant for refusals at random) let the
// rate climb on to 100 against a limit of 60, each refusal holding every
// request 2 s: 74% of the limit got through, 93% without that rule.
func TestServerRateLimitBringsTheRateDown(t *testing.T) {
	for _, c := range []struct {
		limit float64
		ra    time.Duration
	}{{60, 2 * time.Second}, {50, 3 * time.Second}} {
		served, refused, a, _ := simLimitedServer(c.limit, c.limit, 0, c.ra, 20*time.Millisecond, 4, 120*time.Second)
		if got := float64(served) / 120 / c.limit; got < 0.85 {
			t.Errorf("limit %v/s, Retry-After %v: %.2f of the limit served (%d refused), rate %.1f at the end, want 0.85 at least", c.limit, c.ra, got, refused, a.rate())
		}
	}
}

// A server that serves k at once, behind a client of a larger window:
// when a Retry-After pause ends, the window's requests all leave
// together and those past k are refused 2 ms later, with next to nothing
// answered in the unpaused part of the last second. Scaled from the
// 250 ms floor to a second, 1.5 answers read as 6 a second: past the
// "next to nothing let through" guard (at most an eighth at once), the
// rate fell from 128 to 5 a second, a limit seen that it then climbed
// past at 1% of it a second: 13% of the bound of 3 at once served with
// a window of 8 (91% before the unpaused measure).
func TestRefusalJustAfterAPauseIsNoMeasure(t *testing.T) {
	for _, c := range []struct {
		inFlight, window int
		lat              time.Duration
	}{{3, 8, 20 * time.Millisecond}, {2, 16, 100 * time.Millisecond}, {3, 16, 100 * time.Millisecond}} {
		served, refused, a, f := simLimitedServer(1e9, 1e9, c.inFlight, time.Second, c.lat, c.window, 120*time.Second)
		bound := float64(c.inFlight) / c.lat.Seconds()
		if got := float64(served) / 120 / bound; got < 0.8 {
			t.Errorf("%d at once, window %d, %v: %.2f of the bound served (%d refused), window %d, rate %.1f, want 0.8 at least", c.inFlight, c.window, c.lat, got, refused, f.allowed(), a.rate())
		}
	}
}
