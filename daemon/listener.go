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
	now   func() time.Time

	mu    sync.Mutex
	freed chan struct{} // closed at each release, then replaced
	open  map[*trackedConn]struct{}
}

func newEvictingListener(ln net.Listener, max int, quiet time.Duration) *evictingListener {
	return &evictingListener{Listener: ln, max: max, quiet: quiet, now: time.Now, open: map[*trackedConn]struct{}{}}
}

func (l *evictingListener) Accept() (net.Conn, error) {
	// Make room first, as netutil.LimitListener does: never more than max
	// connections accepted, the waiting ones stay in the kernel's queue.
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
		l.mu.Unlock()
		select {
		case <-freed:
		case <-time.After(l.quiet / 4):
		}
		l.mu.Lock()
	}
	// Reserve the place while accepting.
	t := &trackedConn{l: l}
	l.open[t] = struct{}{}
	l.mu.Unlock()
	c, err := l.Listener.Accept()
	l.mu.Lock()
	if err != nil {
		delete(l.open, t)
		l.mu.Unlock()
		return nil, err
	}
	t.Conn, t.last = c, l.now()
	l.mu.Unlock()
	return t, nil
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
// if that is longer than quiet. Called with mu held.
func (l *evictingListener) quietest() *trackedConn {
	var v *trackedConn
	cutoff := l.now().Add(-l.quiet)
	for c := range l.open {
		if c.Conn == nil {
			continue // a place reserved by Accept
		}
		c.mu.Lock()
		last, held := c.last, c.held
		c.mu.Unlock()
		if held == 0 && last.Before(cutoff) && (v == nil || last.Before(v.lastRead())) {
			v = c
		}
	}
	return v
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
	once sync.Once
}

// connKey is the request context's key to its connection (ConnContext).
type connKey struct{}

// holdConn keeps the request's connection from eviction until release is
// called: a reload waiting for a pass is quiet, yet its caller waits for
// the answer. A no-op when the connection is not an evictingListener's.
func holdConn(r *http.Request) (release func()) {
	c, _ := r.Context().Value(connKey{}).(net.Conn)
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	t, ok := c.(*trackedConn)
	if !ok {
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

func (c *trackedConn) lastRead() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
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
