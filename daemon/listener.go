package daemon

import (
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"time"
)

// evictingListener bounds the connections served at once, like
// netutil.LimitListener, but a connection that has sent nothing for a
// while gives its place to a new one instead of making it wait: whoever
// can reach the port cannot hold every place with idle connections and
// starve the kubelet's probes or Prometheus's scrapes. A connection reading
// a request (it sent bytes within quiet), or waiting for its reload
// (holdConn), is never evicted; when every place is busy that way, a new
// connection waits for one to close.
type evictingListener struct {
	net.Listener
	max   int
	quiet time.Duration
	slow  time.Duration // how long a connection may take to send its headers
	now   func() time.Time

	mu     sync.Mutex
	freed  chan struct{} // closed at each release, then replaced
	closed chan struct{} // closed by Close
	open   map[*trackedConn]struct{}
}

func newEvictingListener(ln net.Listener, max int, quiet, slow time.Duration) *evictingListener {
	return &evictingListener{Listener: ln, max: max, quiet: quiet, slow: slow, now: time.Now, open: map[*trackedConn]struct{}{}}
}

func (l *evictingListener) Accept() (net.Conn, error) {
	// Take the new connection first, then make room for it: a place is
	// taken from another connection only for one that is there (making
	// room before accepting closed the slowest client as soon as every
	// place was taken, for a connection that might never come). At most
	// one connection waits accepted but unserved, the rest in the
	// kernel's queue.
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	for len(l.open) >= l.max {
		if v := l.quietest(); v != nil {
			delete(l.open, v)
			l.mu.Unlock()
			v.Conn.Close() // its own Close finds it gone from open
			l.mu.Lock()
			continue
		}
		// Every place is busy: look again when one closes or a
		// connection has been quiet long enough.
		freed := l.freedChLocked()
		if l.closed == nil {
			l.closed = make(chan struct{})
		}
		closed := l.closed
		l.mu.Unlock()
		select {
		case <-freed:
		case <-closed:
			c.Close()
			return nil, net.ErrClosed
		case <-time.After(min(l.quiet, l.slow) / 4):
		}
		l.mu.Lock()
	}
	t := &trackedConn{l: l, Conn: c}
	t.last = l.now()
	t.waitingSince = t.last
	l.open[t] = struct{}{}
	l.mu.Unlock()
	return t, nil
}

// Close closes the listener and ends an Accept waiting for a place.
func (l *evictingListener) Close() error {
	l.mu.Lock()
	if l.closed == nil {
		l.closed = make(chan struct{})
	}
	select {
	case <-l.closed:
	default:
		close(l.closed)
	}
	l.mu.Unlock()
	return l.Listener.Close()
}

// freedChLocked returns a channel closed at the next release. Called with
// mu held.
func (l *evictingListener) freedChLocked() <-chan struct{} {
	if l.freed == nil {
		l.freed = make(chan struct{})
	}
	return l.freed
}

// quietest returns the open connection that has sent nothing for longest,
// if that is longer than quiet; else the one that has waited longest for
// a request's headers without sending them whole, if that is longer than
// slow: a client that trickles its headers a byte at a time is not
// quiet, and enough of them held every place until ReadHeaderTimeout
// (the probes waited behind them in the accept queue for half a minute).
// A connection whose request is being handled or held is never chosen
// by the second rule; one whose request is being handled (its client
// waits for the answer: a long scrape, a request waiting for its place
// in flight) goes by the first only when no other can: otherwise a
// client trickling its headers and reconnecting cut every scrape that
// took over a second. Called with mu held.
func (l *evictingListener) quietest() *trackedConn {
	var idle, slow, busy *trackedConn
	var idleLast, slowSince, busyLast time.Time
	now := l.now()
	cutoff, slowCutoff := now.Add(-l.quiet), now.Add(-l.slow)
	for c := range l.open {
		c.mu.Lock()
		last, held, requests, since := c.last, c.held, c.requests, c.waitingSince
		c.mu.Unlock()
		if held != 0 {
			continue
		}
		if last.Before(cutoff) {
			if requests == 0 && (idle == nil || last.Before(idleLast)) {
				idle, idleLast = c, last
			}
			if requests != 0 && (busy == nil || last.Before(busyLast)) {
				busy, busyLast = c, last
			}
		}
		if requests == 0 && since.Before(slowCutoff) && (slow == nil || since.Before(slowSince)) {
			slow, slowSince = c, since
		}
	}
	switch {
	case idle != nil:
		return idle
	case slow != nil:
		return slow
	}
	return busy
}

func (l *evictingListener) release(c *trackedConn) {
	l.mu.Lock()
	if _, ok := l.open[c]; ok {
		delete(l.open, c)
		if l.freed != nil {
			close(l.freed)
			l.freed = nil
		}
	}
	l.mu.Unlock()
}

// trackedConn notes when it last received bytes.
type trackedConn struct {
	net.Conn
	l    *evictingListener
	mu   sync.Mutex
	last time.Time
	held int // > 0: a handler waits on purpose (a reload); never evicted
	// requests counts the requests whose headers arrived and that are
	// not answered yet; waitingSince is when the connection began to
	// wait for its next request (accepted, or its last one answered).
	requests     int
	waitingSince time.Time
	once         sync.Once
}

// connKey is the request context's key to its connection (ConnContext).
type connKey struct{}

// trackedOf is the evictingListener's connection a request came on, nil
// when it came on another.
func trackedOf(r *http.Request) *trackedConn {
	c, _ := r.Context().Value(connKey{}).(net.Conn)
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	t, _ := c.(*trackedConn)
	return t
}

// holdConn keeps the request's connection from eviction until release is
// called: a reload waiting for a pass is quiet, yet its caller waits for
// the answer. A no-op when the connection is not an evictingListener's.
func holdConn(r *http.Request) (release func()) {
	t := trackedOf(r)
	if t == nil {
		return func() {}
	}
	t.mu.Lock()
	t.held++
	t.mu.Unlock()
	return func() {
		t.mu.Lock()
		t.held--
		t.mu.Unlock()
	}
}

// startRequest notes that the request's headers arrived, until end is
// called: its connection no longer waits for a request. A no-op when the
// connection is not an evictingListener's.
func startRequest(r *http.Request) (end func()) {
	t := trackedOf(r)
	if t == nil {
		return func() {}
	}
	t.mu.Lock()
	t.requests++
	t.mu.Unlock()
	return func() {
		t.mu.Lock()
		if t.requests--; t.requests == 0 {
			t.waitingSince = t.l.now()
		}
		t.mu.Unlock()
	}
}

func (c *trackedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		c.last = c.l.now()
		c.mu.Unlock()
	}
	return n, err
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c) })
	return err
}
