package apiclient

import (
	"context"
	"slices"
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
//     fewer in flight would not have helped. Nor would it for a few
//     refusals among many answers (20 or more in the last second, fewer
//     than one in twice the window refused) that no growth preceded: a
//     server refusing a small share of requests whatever the load.
//   - After a probe interval (5 s at first, 80 s at most) without a push
//     back, it grows by one; a growth that held a whole interval halves
//     the interval again (down to 5 s).
type inFlight struct {
	ceiling int
	now     func() time.Time

	mu         sync.Mutex
	n          int       // requests in flight, including the slots handed to waiters
	window     int       // requests allowed in flight
	waiters    []*waiter // oldest first
	lastShrink time.Time
	// answers and refused count the last second's answers, and those
	// of them that pushed back.
	answers, refused window
	lastPush         time.Time // the last push back
	lastGrow         time.Time
	probe            time.Duration
}

const (
	firstProbe = 5 * time.Second
	maxProbe   = 80 * time.Second
)

// A waiter is a request waiting for a slot. A slot that frees up is
// handed to the oldest waiter directly (n stays counted for it), rather
// than every waiter being woken to compete for it: with a pass's names
// all waiting on a full window, waking all of them made each release
// ready a handful of goroutines (and threads) of which one got the slot.
type waiter struct {
	ready chan struct{} // closed when the slot is handed over
	full  bool          // the slot filled the window
}

func newInFlight(ceiling int, now func() time.Time) *inFlight {
	return &inFlight{ceiling: ceiling, window: ceiling, now: now, probe: firstProbe}
}

// tryAcquire takes a place if one is free and nobody waits for one: ok
// says it did, full whether it filled the window.
func (f *inFlight) tryAcquire() (full, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n < f.window && len(f.waiters) == 0 {
		f.n++
		return f.n >= f.window, true
	}
	return false, false
}

// acquire waits until a request may go out, and says whether it filled
// the window. Requests go out in the order they asked.
func (f *inFlight) acquire(ctx context.Context) (full bool, err error) {
	f.mu.Lock()
	if f.n < f.window && len(f.waiters) == 0 {
		f.n++
		full = f.n >= f.window
		f.mu.Unlock()
		return full, nil
	}
	w := &waiter{ready: make(chan struct{})}
	f.waiters = append(f.waiters, w)
	f.mu.Unlock()
	select {
	case <-w.ready:
		return w.full, nil
	case <-ctx.Done():
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	select {
	case <-w.ready:
		// Handed a slot as the context ended: give it to the next one.
		f.n--
		f.handOver()
	default:
		f.waiters = slices.DeleteFunc(f.waiters, func(x *waiter) bool { return x == w })
	}
	return false, ctx.Err()
}

// release ends a request that acquire let go, and says whether its slot
// went to a waiting request.
func (f *inFlight) release() (handed bool) {
	f.mu.Lock()
	f.n--
	handed = f.handOver()
	f.mu.Unlock()
	return handed
}

// handOver gives the window's free slots to the oldest waiters, and says
// whether it gave any; f.mu is held.
func (f *inFlight) handOver() (handed bool) {
	for f.n < f.window && len(f.waiters) > 0 {
		handed = true
		w := f.waiters[0]
		f.waiters[0] = nil
		f.waiters = f.waiters[1:]
		f.n++
		w.full = f.n >= f.window
		close(w.ready)
	}
	return handed
}

// pushedBack records a 429 or 503 answer to a request that went out with
// the window full (full) or not.
func (f *inFlight) pushedBack(full bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	f.answers.add(now)
	f.refused.add(now)
	if !full {
		return
	}
	f.lastPush = now
	if now.Sub(f.lastShrink) < time.Second {
		return // the same burst of refusals
	}
	if !f.lastGrow.IsZero() && now.Sub(f.lastGrow) < f.probe {
		// The last growth was one too many: back to the window before
		// it, and probe less often. Whatever the share of refusals: a
		// server that serves fewer at once refuses once per Retry-After
		// pause, among the answers the smaller window had before it.
		f.window = max(1, f.window-1)
		f.probe = min(maxProbe, 2*f.probe)
		f.lastGrow = time.Time{}
		f.lastShrink = now
		return
	}
	if answers := f.answers.count(now); answers >= minShareAnswers && f.refused.count(now)*float64(2*f.window) < answers {
		// A server that serves fewer at once refuses at least one in
		// window of the requests that go out with the window full: far
		// fewer refusals are something else (a share refused whatever
		// the load), which a smaller window would not help, and every
		// random refusal halving it brought a pass to one request at a
		// time.
		return
	}
	f.lastShrink = now
	f.window = max(1, f.window/2)
}

// succeeded records an answer that was not a push back, and says whether
// a growth of the window handed a slot to a waiting request.
func (f *inFlight) succeeded() (handed bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answers.add(f.now())
	if f.window >= f.ceiling {
		return false
	}
	now := f.now()
	if now.Sub(f.lastPush) < f.probe || now.Sub(f.lastGrow) < f.probe {
		return false
	}
	if !f.lastGrow.IsZero() && f.lastPush.Before(f.lastGrow) {
		// The last growth held a whole interval: probe sooner.
		f.probe = max(firstProbe, f.probe/2)
	}
	f.window++
	f.lastGrow = now
	return f.handOver()
}

// allowed returns the window in force.
func (f *inFlight) allowed() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.window
}
