package apiclient

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// adaptiveLimit is the client's request rate: it starts at the ceiling
// (Config.RateLimit), halves when the API pushes back (429, or 503 with
// Retry-After), at most once a second so one burst of refusals counts
// once, and climbs back additively with each request that succeeds. A
// Retry-After also holds every request, not only the one refused, until
// it has passed. Exoscale documents no rate limit for the IAM API: the
// rate follows what the server says instead of a fixed guess.
type adaptiveLimit struct {
	lim     *rate.Limiter
	ceiling float64
	now     func() time.Time

	mu           sync.Mutex
	current      float64
	lastDecrease time.Time
	pauseUntil   time.Time
}

// floorRate is the least rate it backs off to: one request every two
// seconds still makes progress.
const floorRate = 0.5

// recoverStep is what each success adds to the rate (requests per second).
const recoverStep = 0.1

func newAdaptiveLimit(ceiling float64, burst int, now func() time.Time) *adaptiveLimit {
	return &adaptiveLimit{lim: rate.NewLimiter(rate.Limit(ceiling), burst), ceiling: ceiling, current: ceiling, now: now}
}

// pauseLeft is how long every request must still wait for a Retry-After.
func (a *adaptiveLimit) pauseLeft() time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.pauseUntil.Sub(a.now())
}

// wait blocks until the rate lets a request go.
func (a *adaptiveLimit) wait(ctx context.Context) error { return a.lim.Wait(ctx) }

// pushedBack records a 429 or 503 answer.
func (a *adaptiveLimit) pushedBack(retryAfter time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	if retryAfter > 0 {
		if until := now.Add(retryAfter); until.After(a.pauseUntil) {
			a.pauseUntil = until
		}
	}
	if now.Sub(a.lastDecrease) < time.Second {
		return
	}
	a.lastDecrease = now
	a.current = max(floorRate, a.current/2)
	a.lim.SetLimit(rate.Limit(a.current))
}

// succeeded records an answer that was not a push back.
func (a *adaptiveLimit) succeeded() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.current >= a.ceiling {
		return
	}
	a.current = min(a.ceiling, a.current+recoverStep)
	a.lim.SetLimit(rate.Limit(a.current))
}

// rate returns the rate in force.
func (a *adaptiveLimit) rate() float64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.current
}
