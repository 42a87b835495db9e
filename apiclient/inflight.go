package apiclient

import (
	"context"
	"sync"
	"time"
)

// inFlight bounds the requests in flight. Exoscale documents no limit on
// them either, and a gateway that answers 429 above some number in flight
// is not helped by a lower rate: the requests that still go out together
// are refused together, and each refusal holds every request for its
// Retry-After (measured: 200 rotations against a server that serves 2 at
// once took 23 times the bound with a fixed 4 in flight, 38% of answers
// 429). So the window adapts, as the rate does:
//
//   - It starts at the ceiling (Config.Concurrency).
//   - A push back (429 or 503) to a request that went out with the
//     window full, at most once a second, halves it (at least 1); one that
//     follows a growth within its probe interval takes the growth back and
//     doubles the interval (a failed probe). A push back to a request that
//     went out with room to spare is about something else (the rate):
//     fewer in flight would not have helped.
//   - After a probe interval (5 s at first, 80 s at most) without a push
//     back, it grows by one; a growth that held a whole interval halves
//     the interval again (down to 5 s).
type inFlight struct {
	ceiling int
	now     func() time.Time

	mu         sync.Mutex
	n          int           // requests in flight
	window     int           // requests allowed in flight
	wake       chan struct{} // closed when n drops or the window grows
	lastShrink time.Time
	lastPush   time.Time // the last push back
	lastGrow   time.Time
	probe      time.Duration
}

const (
	firstProbe = 5 * time.Second
	maxProbe   = 80 * time.Second
)

func newInFlight(ceiling int, now func() time.Time) *inFlight {
	return &inFlight{ceiling: ceiling, window: ceiling, now: now, wake: make(chan struct{}), probe: firstProbe}
}

// acquire waits until a request may go out, and says whether it filled
// the window.
func (f *inFlight) acquire(ctx context.Context) (full bool, err error) {
	for {
		f.mu.Lock()
		if f.n < f.window {
			f.n++
			full = f.n >= f.window
			f.mu.Unlock()
			return full, nil
		}
		wake := f.wake
		f.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
}

// release ends a request that acquire let go.
func (f *inFlight) release() {
	f.mu.Lock()
	f.n--
	f.wakeAll()
	f.mu.Unlock()
}

// wakeAll lets the waiters look again; f.mu is held. The waiters are the
// names a pass handles at once (twice Config.Concurrency): few enough to
// wake all, and no order is promised among them.
func (f *inFlight) wakeAll() {
	close(f.wake)
	f.wake = make(chan struct{})
}

// pushedBack records a 429 or 503 answer to a request that went out with
// the window full (full) or not.
func (f *inFlight) pushedBack(full bool) {
	if !full {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	f.lastPush = now
	if now.Sub(f.lastShrink) < time.Second {
		return // the same burst of refusals
	}
	f.lastShrink = now
	if !f.lastGrow.IsZero() && now.Sub(f.lastGrow) < f.probe {
		// The last growth was one too many: back to the window before
		// it, and probe less often.
		f.window = max(1, f.window-1)
		f.probe = min(maxProbe, 2*f.probe)
		f.lastGrow = time.Time{}
		return
	}
	f.window = max(1, f.window/2)
}

// succeeded records an answer that was not a push back.
func (f *inFlight) succeeded() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.window >= f.ceiling {
		return
	}
	now := f.now()
	if now.Sub(f.lastPush) < f.probe || now.Sub(f.lastGrow) < f.probe {
		return
	}
	if !f.lastGrow.IsZero() && f.lastPush.Before(f.lastGrow) {
		// The last growth held a whole interval: probe sooner.
		f.probe = max(firstProbe, f.probe/2)
	}
	f.window++
	f.lastGrow = now
	f.wakeAll()
}

// allowed returns the window in force.
func (f *inFlight) allowed() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.window
}
