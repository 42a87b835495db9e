package exosim

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"

	"golang.org/x/time/rate"
)

// Limits model the limit an API gateway puts on a client: calls above
// Rate per second (a token bucket of Burst), or beyond MaxInFlight
// answered at once, are refused with 429 and a Retry-After before they are
// authenticated, as a gateway in front of the API would. They apply to
// every API operation together, not to /_sim/. The zero value sets no
// limit. Exoscale documents none for the IAM API; this is how a bench or a
// test asks what rotatord does when there is one.
type Limits struct {
	// Rate is the calls per second let through; 0: no rate limit.
	Rate float64 `json:"rate" yaml:"rate"`
	// Burst is the token bucket's size; 0: one second's worth of Rate
	// (at least 1).
	Burst int `json:"burst" yaml:"burst"`
	// MaxInFlight is the most calls served at once; 0: no limit.
	MaxInFlight int `json:"max_in_flight" yaml:"max_in_flight"`
	// RetryAfter is the Retry-After of the refusal in seconds, 1 when 0.
	RetryAfter int `json:"retry_after" yaml:"retry_after"`
}

func (l Limits) validate() error {
	switch {
	case l.Rate < 0 || math.IsNaN(l.Rate) || math.IsInf(l.Rate, 0):
		return fmt.Errorf("%w: limits: rate %v is not a non-negative number", ErrInvalidFault, l.Rate)
	case l.Burst < 0:
		return fmt.Errorf("%w: limits: burst %d is negative", ErrInvalidFault, l.Burst)
	case l.MaxInFlight < 0:
		return fmt.Errorf("%w: limits: max_in_flight %d is negative", ErrInvalidFault, l.MaxInFlight)
	case l.RetryAfter < 0:
		return fmt.Errorf("%w: limits: retry_after %d is negative", ErrInvalidFault, l.RetryAfter)
	}
	return nil
}

// gate enforces Limits. Its own mutex keeps the hot path off Sim.mu.
type gate struct {
	mu       sync.Mutex
	limits   Limits
	bucket   *rate.Limiter // nil without a rate
	inFlight int
	refused  int
}

// SetLimits replaces the limits in force (the token bucket starts full).
func (s *Sim) SetLimits(l Limits) error {
	if err := l.validate(); err != nil {
		return err
	}
	g := &s.gate
	g.mu.Lock()
	defer g.mu.Unlock()
	g.limits, g.bucket = l, nil
	if l.Rate > 0 {
		burst := l.Burst
		if burst == 0 {
			burst = max(1, int(l.Rate))
		}
		g.bucket = rate.NewLimiter(rate.Limit(l.Rate), burst)
	}
	return nil
}

// Limits returns the limits in force.
func (s *Sim) Limits() Limits {
	s.gate.mu.Lock()
	defer s.gate.mu.Unlock()
	return s.gate.limits
}

// Refused returns how many calls the limits refused so far.
func (s *Sim) Refused() int {
	s.gate.mu.Lock()
	defer s.gate.mu.Unlock()
	return s.gate.refused
}

// admit lets a call in, or returns the 429 that refuses it. A call let in
// must call the release it got once answered.
func (s *Sim) admit() (release func(), refusal *reply) {
	g := &s.gate
	g.mu.Lock()
	defer g.mu.Unlock()
	l := g.limits
	if (l.MaxInFlight > 0 && g.inFlight >= l.MaxInFlight) || (g.bucket != nil && !g.bucket.Allow()) {
		g.refused++
		after := l.RetryAfter
		if after == 0 {
			after = 1
		}
		r := errorReply(http.StatusTooManyRequests, "Too Many Requests")
		r.header = http.Header{"Retry-After": {strconv.Itoa(after)}}
		return nil, &r
	}
	g.inFlight++
	return func() {
		g.mu.Lock()
		g.inFlight--
		g.mu.Unlock()
	}, nil
}
