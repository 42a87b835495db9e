package apiclient

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// adaptiveLimit is the client's request rate. Exoscale documents no rate
// limit for the IAM API, so the rate follows what the server says instead
// of a fixed guess:
//
//   - It starts at the ceiling (Config.RateLimit).
//   - When the API pushes back (429, or 503), at most once a second so one
//     burst of refusals counts once, it drops to just under what the
//     server let through in the last second (its limit, measured; at
//     most to an eighth at once when it let next to nothing through), or
//     by half when too few answers came to measure it; never up.
//   - A Retry-After holds every request, not only the one refused, until
//     it has passed (at most Config.MaxRetryAfter: the client caps it).
//     One longer than Config.MaxRetryAfter is more than the client ever
//     waits: the other requests fail at once, unsent, until
//     Config.MaxRetryAfter has passed, rather than each waiting that
//     long, going out, and earning the same answer for the next one.
//   - Below the ceiling the bucket holds a tenth of a second's requests
//     at most: a Retry-After pause must not fill it, or the requests
//     held would all leave at once when it ends, empty the server's own
//     bucket and earn the next refusal and pause.
//   - It climbs back with each answer: fast (0.1/s per answer, about 10%
//     a second) while below the rate the server last allowed, slowly (1%
//     of that rate a second, divided by the last Retry-After in seconds)
//     above it, so that probing the limit again costs one refusal every
//     several seconds, and each probe's pause a few percent of the time,
//     not a storm; 50% above it, the old limit is forgotten.
type adaptiveLimit struct {
	lim     *rate.Limiter
	ceiling float64
	burst   int // the bucket's size at the ceiling
	now     func() time.Time

	mu           sync.Mutex
	current      float64
	allowed      float64 // what the server let through at the last push back; 0: unknown
	retryAfter   time.Duration
	lastDecrease time.Time
	pauseFrom    time.Time // when the Retry-After pause ending at pauseUntil began
	pauseUntil   time.Time
	refuseUntil  time.Time // requests fail unsent until then
	ok, answered window    // answers in the last second: not refused, and all
	// held closes when a Retry-After comes into force (a pause, or a
	// refusal to send); a new one is made for the next. Nil: none asked.
	held chan struct{}
}

// floorRate is the least rate it backs off to: one request every two
// seconds still makes progress (the ceiling, when that is lower).
const floorRate = 0.5

// recoverStep is what each answer adds to the rate below the last allowed
// rate (requests per second).
const recoverStep = 0.1

// A push back among at least minShareAnswers answers of the last second
// halves the window in flight only when enough of them were refused
// (inFlight.pushedBack). The rate has no such rule: a server's rate
// limit earns about one refusal a Retry-After pause, as rare among the
// answers as refusals at random, and a rate spared its decrease climbed
// on past the limit (66% of a 50/s limit served with Retry-After: 3).
const minShareAnswers = 20

// headroom is the share of the measured server limit the rate drops to.
const headroom = 0.9

func newAdaptiveLimit(ceiling float64, burst int, now func() time.Time) *adaptiveLimit {
	return &adaptiveLimit{lim: rate.NewLimiter(rate.Limit(ceiling), burst), ceiling: ceiling, burst: burst, current: ceiling, now: now}
}

// pauseLeft is how long every request must still wait for a Retry-After.
func (a *adaptiveLimit) pauseLeft() time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.pauseUntil.Sub(a.now())
}

// holds returns how long requests still fail unsent (0 when they may
// go), when the Retry-After in force ends, and how long that is from
// now: all at once, since a request looks at them twice.
func (a *adaptiveLimit) holds() (refuse time.Duration, end time.Time, left time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	return max(0, a.refuseUntil.Sub(now)), a.pauseUntil, a.pauseUntil.Sub(now)
}

// refuseFor makes requests fail unsent for d: the server asked for a
// longer wait than the client allows itself.
func (a *adaptiveLimit) refuseFor(d time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if until := a.now().Add(d); until.After(a.refuseUntil) {
		a.refuseUntil = until
		a.notifyHeld()
	}
}

// heldSignal returns a channel that closes when a Retry-After next comes
// into force: a request waiting for a place among the requests in flight
// after a reload's interrupt looks at the pause again then, since the
// place may go to one that holds it through that Retry-After.
func (a *adaptiveLimit) heldSignal() <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.held == nil {
		a.held = make(chan struct{})
	}
	return a.held
}

// notifyHeld closes the channel heldSignal gave; a.mu is held.
func (a *adaptiveLimit) notifyHeld() {
	if a.held != nil {
		close(a.held)
		a.held = nil
	}
}

// refusing returns how long requests still fail unsent; 0 when they may go.
func (a *adaptiveLimit) refusing() time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	return max(0, a.refuseUntil.Sub(a.now()))
}

// wait blocks until the rate lets a request go.
func (a *adaptiveLimit) wait(ctx context.Context) error { return a.lim.Wait(ctx) }

// pushedBack records a 429 or 503 answer.
func (a *adaptiveLimit) pushedBack(retryAfter time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	a.answered.add(now)
	// Measured before this refusal's pause comes into force: the last
	// second's pause, not the one to come.
	unpaused := a.unpaused(now)
	// The latest refusal says what the next one would cost: a 503
	// without Retry-After clears an old one.
	a.retryAfter = retryAfter
	if retryAfter > 0 {
		if until := now.Add(retryAfter); until.After(a.pauseUntil) {
			if !now.Before(a.pauseUntil) {
				a.pauseFrom = now
			}
			a.pauseUntil = until
			a.notifyHeld()
		}
	}
	if now.Sub(a.lastDecrease) < time.Second {
		return
	}
	a.lastDecrease = now
	next := a.current / 2
	// Enough answers in the last second to measure what the server lets
	// through: go just under it (the nominal rate may be far above what
	// the requests in flight ever reached). When it let next to nothing
	// through, by at most an eighth a second, so that a second of
	// refusals (a restart behind a 503) does not bring the rate to the
	// floor.
	//
	// What it let through is counted over the part of that second no
	// Retry-After held: a refusal soon after a pause, counted over the
	// whole second, took the pause's silence for the server's limit, and
	// 1% of answers refused at random (each with Retry-After: 1) brought
	// a pass from the 150 requests a second the latency allowed to 30.
	// A quarter of a second at least, so that the few answers just
	// after a pause do not count for a whole second's. Fewer than 4
	// answers let through are next to nothing, not scaled: a refusal
	// 2 ms after a pause ended (a window's requests leaving together
	// to a server serving fewer at once) found 1.5 answers, read them
	// as 6 a second, passed this guard and took the rate from 128 to 5.
	if a.answered.count(now) >= 4 {
		a.allowed = a.ok.count(now)
		if a.allowed < 4 {
			next = max(headroom*a.allowed, a.current/8)
		} else {
			a.allowed *= float64(time.Second) / float64(max(unpaused, time.Second/4))
			next = headroom * a.allowed
		}
	}
	a.set(max(min(floorRate, a.ceiling), min(next, a.current)))
}

// unpaused is how much of the second before now no Retry-After pause
// held; a.mu is held.
func (a *adaptiveLimit) unpaused(now time.Time) time.Duration {
	from, until := a.pauseFrom, a.pauseUntil
	if start := now.Add(-time.Second); from.Before(start) {
		from = start
	}
	if until.After(now) {
		until = now
	}
	if until.After(from) {
		return time.Second - until.Sub(from)
	}
	return time.Second
}

// succeeded records an answer that was not a push back.
func (a *adaptiveLimit) succeeded() {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	a.ok.add(now)
	a.answered.add(now)
	if a.current >= a.ceiling {
		return
	}
	step := recoverStep
	switch {
	case a.allowed > 0 && a.current > 1.5*a.allowed:
		// The limit seen is long passed: climb fast again, and forget
		// what its refusal cost.
		a.allowed, a.retryAfter = 0, 0
	case a.allowed > 0 && a.current >= headroom*a.allowed:
		// Near the limit seen: 1% of it a second, at current answers a
		// second; slower when a refusal costs a longer pause.
		step = 0.01 * a.allowed / a.current / max(1, a.retryAfter.Seconds())
	}
	a.set(min(a.ceiling, a.current+step))
}

func (a *adaptiveLimit) set(r float64) {
	a.current = r
	a.lim.SetLimit(rate.Limit(r))
	a.lim.SetBurst(a.burstAt(r))
}

// burstAt is the bucket's size at rate r: the configured one at the
// ceiling, a tenth of a second's requests below it.
func (a *adaptiveLimit) burstAt(r float64) int {
	if r >= a.ceiling {
		return a.burst
	}
	return max(1, min(a.burst, int(r/10)))
}

// rate returns the rate in force.
func (a *adaptiveLimit) rate() float64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.current
}

// window counts events over the last second: the current whole second and
// the share of the previous one the last second still covers.
type window struct {
	second    int64 // the Unix second cur counts
	prev, cur int
}

func (w *window) roll(now time.Time) {
	s := now.Unix()
	switch {
	case s == w.second:
	case s == w.second+1:
		w.prev, w.cur, w.second = w.cur, 0, s
	default:
		w.prev, w.cur, w.second = 0, 0, s
	}
}

func (w *window) add(now time.Time) {
	w.roll(now)
	w.cur++
}

func (w *window) count(now time.Time) float64 {
	w.roll(now)
	frac := float64(now.Nanosecond()) / 1e9
	return float64(w.prev)*(1-frac) + float64(w.cur)
}
