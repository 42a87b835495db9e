// Package fence owns the last check a request makes under leader election:
// right before it leaves, it asks whether this replica still holds the
// Lease, and it carries the end of that claim as its deadline. A request
// that waited in a client queue, a dial or a TLS handshake past the claim
// is cut off instead of arriving once another replica may lead.
package fence

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// Func answers whether this replica may act now (nil) and until when its
// claim lasts (zero: no end).
type Func func() (until time.Time, err error)

// Check is f without the deadline, for the places that only ask.
func (f Func) Check() error {
	_, err := f()
	return err
}

// Transport wraps next: each request that exempt (nil: none) does not
// spare asks f right before it leaves, fails with f's error when this
// replica may not act, and is cancelled when the claim ends: at the end f
// gave, f is asked again, and a claim renewed meanwhile lets the request
// go on to the new end (a healthy leader's slow request is not cut). A
// request cut off after it was written may have taken effect: the callers
// treat it as an answer lost, as they treat any other.
func Transport(next http.RoundTripper, f Func, exempt func(*http.Request) bool) http.RoundTripper {
	return &transport{next: next, fence: f, exempt: exempt}
}

// ErrClaimOver is the answer to a request whose claim ended before it
// left, when f gave that end without an error of its own.
var ErrClaimOver = errors.New("fence: the claim has ended")

type transport struct {
	next   http.RoundTripper
	fence  Func
	exempt func(*http.Request) bool
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.exempt != nil && t.exempt(req) {
		return t.next.RoundTrip(req)
	}
	until, err := t.fence()
	if err != nil {
		if req.Body != nil {
			req.Body.Close() // a RoundTripper closes the body, even on error
		}
		return nil, err
	}
	if until.IsZero() {
		return t.next.RoundTrip(req)
	}
	if !until.After(time.Now()) {
		// A claim already over: a timer would cancel the request only
		// after it may have left.
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, ErrClaimOver
	}
	ctx, cancel := context.WithCancel(req.Context())
	w := &watch{fence: t.fence, cancel: cancel}
	w.arm(until)
	// A caller that gives up without closing the body (the Vault client
	// drops a redirect's) ends the watch with its context: it must not
	// follow renewals for the rest of the term.
	context.AfterFunc(req.Context(), w.stop)
	resp, err := t.next.RoundTrip(req.WithContext(ctx))
	if err != nil {
		w.stop()
		return nil, err
	}
	// The body is read after RoundTrip returns: the watch ends with it.
	resp.Body = &stopOnClose{ReadCloser: resp.Body, stop: w.stop}
	return resp, nil
}

// watch cancels a request when the claim ends, following renewals.
type watch struct {
	fence  Func
	cancel context.CancelFunc

	mu      sync.Mutex
	timer   *time.Timer
	stopped bool
}

func (w *watch) arm(until time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	w.timer = time.AfterFunc(time.Until(until), w.fire)
}

// fire runs at the end of the claim known when armed: the request goes on
// if the claim was renewed since, else it is cut off.
func (w *watch) fire() {
	until, err := w.fence()
	switch {
	case err != nil || !until.IsZero() && !until.After(time.Now()):
		w.cancel()
	case until.IsZero():
		// No end any more: nothing to cut the request off at.
	default:
		w.arm(until)
	}
}

func (w *watch) stop() {
	w.mu.Lock()
	w.stopped = true
	if w.timer != nil {
		w.timer.Stop()
	}
	w.mu.Unlock()
	w.cancel()
}

type stopOnClose struct {
	io.ReadCloser
	stop func()
}

func (c *stopOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.stop()
	return err
}

// SpareReads exempts reads (GET, HEAD, OPTIONS): only what changes
// something needs the fence.
func SpareReads(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return true
	}
	return false
}

// Conn wraps c so that every write to it asks f first: bytes leave only
// while this replica may act and its claim lasts. Transport checks right
// before a request goes, but a process paused in between (SIGSTOP, a
// frozen VM) would still send the request as it wakes, before any timer
// could cut it off; the write to the socket is the last moment a check
// can be made. A refused write puts no byte on the wire (net/http may
// already count the request as written: it is then an answer lost).
// For HTTP/1.1 connections: over HTTP/2 the client's own control frames
// would be refused too, breaking every stream of the connection.
func Conn(c net.Conn, f Func) net.Conn { return &conn{Conn: c, fence: f} }

type conn struct {
	net.Conn
	fence Func
}

func (c *conn) Write(p []byte) (int, error) {
	until, err := c.fence()
	if err != nil {
		return 0, err
	}
	if !until.IsZero() && !until.After(time.Now()) {
		return 0, ErrClaimOver
	}
	return c.Conn.Write(p)
}

// FenceConns makes t (a transport of one's own, or a clone) fence at the
// socket: every connection it dials is a Conn asking f, and it speaks
// HTTP/1.1 only, so that a connection's only writes are its TLS handshake
// and one request at a time. Over HTTP/2 a connection also carries the
// client's control frames (flow control while an answer is read), and one
// refused during a late renewal would break every request sharing it.
func FenceConns(t *http.Transport, f Func) {
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	t.Protocols = &protocols
	t.ForceAttemptHTTP2 = false
	t.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	// A transport already used over TLS, or set up for HTTP/2
	// (x/net/http2's ConfigureTransport), offers h2 in its TLS
	// configuration.
	if t.TLSClientConfig == nil {
		t.TLSClientConfig = &tls.Config{}
	}
	t.TLSClientConfig.NextProtos = []string{"http/1.1"}
	dial := t.DialContext
	if dial == nil {
		if d := t.Dial; d != nil { // deprecated, but the transport's choice
			dial = func(_ context.Context, network, addr string) (net.Conn, error) { return d(network, addr) }
		} else {
			var d net.Dialer
			dial = d.DialContext
		}
	}
	t.Dial = nil
	t.DialContext = ConnDial(dial, f)
	tlsDial := t.DialTLSContext
	if d := t.DialTLS; tlsDial == nil && d != nil { // deprecated, as Dial
		tlsDial = func(_ context.Context, network, addr string) (net.Conn, error) { return d(network, addr) }
	}
	t.DialTLS = nil
	if tlsDial != nil {
		t.DialTLSContext = ConnDial(tlsDial, f)
	}
}

// ConnDial wraps dial so that every connection it makes is a Conn asking
// f, for clients that take a dial function rather than a transport.
func ConnDial(dial func(ctx context.Context, network, addr string) (net.Conn, error), f Func) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return Conn(c, f), nil
	}
}

// Split fences the requests that exempt does not spare, with Transport
// and at the socket (FenceConns), on connections of their own: a clone of
// t. The spared ones (reads, logins) go through t as it is.
func Split(t *http.Transport, f Func, exempt func(*http.Request) bool) http.RoundTripper {
	fenced := t.Clone()
	FenceConns(fenced, f)
	return Route(t, fenced, f, exempt)
}

// Route sends the requests exempt spares through spared as it is, and
// every other one through fenced, wrapped in Transport; fenced must fence
// its connections already (FenceConns, ConnDial), over HTTP/1.1. A client
// shares one transport for what a standby needs (reads, logins) and for
// the writes only the leader makes, and a connection's write cannot tell
// which request it carries: on a shared connection a standby's read would
// be refused too.
func Route(spared, fenced http.RoundTripper, f Func, exempt func(*http.Request) bool) http.RoundTripper {
	return &route{spared: spared, fencedConns: fenced, fenced: Transport(fenced, f, nil), exempt: exempt}
}

type route struct {
	spared, fencedConns http.RoundTripper
	fenced              http.RoundTripper
	exempt              func(*http.Request) bool
}

func (r *route) RoundTrip(req *http.Request) (*http.Response, error) {
	if r.exempt != nil && r.exempt(req) {
		return r.spared.RoundTrip(req)
	}
	return r.fenced.RoundTrip(req)
}

// CloseIdleConnections closes both sides' idle connections, as
// http.Client.CloseIdleConnections expects of its transport.
func (r *route) CloseIdleConnections() {
	for _, rt := range []http.RoundTripper{r.spared, r.fencedConns} {
		if c, ok := rt.(interface{ CloseIdleConnections() }); ok {
			c.CloseIdleConnections()
		}
	}
}
