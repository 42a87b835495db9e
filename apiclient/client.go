package apiclient

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	v3 "github.com/exoscale/egoscale/v3"
	"github.com/exoscale/egoscale/v3/credentials"

	"github.com/rotatord/rotatord/internal/fence"
	"github.com/rotatord/rotatord/internal/plainhttp"
	"github.com/rotatord/rotatord/internal/version"
	"github.com/rotatord/rotatord/secret"
)

// Config holds the client's settings. Zero values take the defaults below.
type Config struct {
	Endpoint    string // API base URL ending in /v2 (see ResolveEndpoint)
	Credentials Credentials

	Timeout        time.Duration // per HTTP attempt; default 30s
	MaxRetries     int           // retries after the first attempt; default 4, -1 for none
	RetryBaseDelay time.Duration // first backoff; default 1s, doubling
	RetryMaxDelay  time.Duration // backoff cap; default 30s
	MaxRetryAfter  time.Duration // a longer Retry-After gives up instead of sleeping, and holds the other requests this long at most; default 2m

	RateLimit   float64 // ceiling of the adaptive rate, requests per second; default 1000
	Burst       int     // default 10
	Concurrency int     // requests in flight at once; default 4

	PollInterval  time.Duration // first delay between operation polls; default 1s
	DeleteTimeout time.Duration // how long a delete may stay pending; default 2m

	Observe ObserveFunc // optional per-attempt hook
	OnRetry RetryFunc   // optional: called before each retry's wait (rotatord logs it at debug)

	// Transport is the base round tripper; default a clone of http.DefaultTransport.
	Transport http.RoundTripper

	// InsecureHTTP lets the client follow a redirect to plain http on a
	// host that is not loopback, as the endpoint's insecure_http lets it
	// be such a URL (tests only). Without it such a redirect is refused:
	// the answers (a new key's secret) would come back in clear.
	InsecureHTTP bool

	// UserAgentSuffix is added to the User-Agent (a replica's identity
	// under leader election, so server-side logs tell replicas apart).
	UserAgentSuffix string

	// Gate, when set, is asked right before each attempt is sent; its
	// error fails the call unsent and is not retried. A replica that lost
	// its Lease sends nothing, and a request still unanswered when the
	// claim Gate gave ends is cut off (internal/fence). With the default
	// Transport, Gate is asked again on each write to a connection, and
	// the client speaks HTTP/1.1 only; a Transport of one's own gets the
	// checks before the request only.
	Gate fence.Func
}

// Defaults.
const (
	DefaultTimeout        = 30 * time.Second
	DefaultMaxRetries     = 4
	DefaultRetryBaseDelay = time.Second
	DefaultRetryMaxDelay  = 30 * time.Second
	DefaultMaxRetryAfter  = 2 * time.Minute
	DefaultRateLimit      = 1000
	DefaultBurst          = 10
	DefaultConcurrency    = 4
	DefaultPollInterval   = time.Second
	DefaultDeleteTimeout  = 2 * time.Minute
)

func (c *Config) applyDefaults() {
	setDefault(&c.Timeout, DefaultTimeout)
	if c.MaxRetries == 0 {
		c.MaxRetries = DefaultMaxRetries
	} else if c.MaxRetries < 0 {
		c.MaxRetries = 0
	}
	setDefault(&c.RetryBaseDelay, DefaultRetryBaseDelay)
	setDefault(&c.RetryMaxDelay, DefaultRetryMaxDelay)
	setDefault(&c.MaxRetryAfter, DefaultMaxRetryAfter)
	setDefault(&c.RateLimit, DefaultRateLimit)
	setDefault(&c.Burst, DefaultBurst)
	setDefault(&c.Concurrency, DefaultConcurrency)
	setDefault(&c.PollInterval, DefaultPollInterval)
	setDefault(&c.DeleteTimeout, DefaultDeleteTimeout)
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// Client is the API implementation on the official SDK.
type Client struct {
	// sdk signs with the credential in force; UseCredentials swaps it when
	// rotatord rotates its own key.
	sdk    atomic.Pointer[v3.Client]
	cred   atomic.Pointer[Credentials]
	newSDK func(Credentials) (*v3.Client, error)
	cfg    Config

	// The rate limit and the concurrency bound apply to every attempt and
	// are taken before the attempt's timeout starts, so a queued request
	// never times out before it is sent.
	limiter  *adaptiveLimit
	inFlight *inFlight

	// sleep and jitter are fields so tests can observe backoff without waiting.
	sleep  func(ctx context.Context, d time.Duration) error
	jitter func() float64
	now    func() time.Time

	// conns is the default transport's split of creates from the other
	// requests, nil with a Transport of one's own: tests set its clock.
	conns *createOnOwnConn
}

var _ API = (*Client)(nil)

// Limits returns what the client allows itself now: the adaptive rate
// (requests per second) and the adaptive number of requests in flight.
// Both start at their ceilings (Config.RateLimit and Config.Concurrency)
// and sit below them while the API pushes back.
func (c *Client) Limits() (rate float64, inFlight int) {
	return c.limiter.rate(), c.inFlight.allowed()
}

// New builds a client. It makes no request.
func New(cfg Config) (*Client, error) {
	cfg.applyDefaults()
	if cfg.Endpoint == "" {
		return nil, errors.New("apiclient: no endpoint")
	}
	if cfg.Credentials.Key == "" || cfg.Credentials.Secret.IsZero() {
		return nil, errors.New("apiclient: no credentials")
	}
	if cfg.Concurrency < 1 {
		return nil, fmt.Errorf("apiclient: concurrency %d, want at least 1", cfg.Concurrency)
	}
	if cfg.Timeout < 0 {
		// Each attempt's context would be born expired: nothing would
		// ever be sent.
		return nil, fmt.Errorf("apiclient: timeout %s, want more than 0 (0: the default, %s)", cfg.Timeout, DefaultTimeout)
	}
	base := cfg.Transport
	var conns *createOnOwnConn
	if base == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		// Keep a connection for every request that may be in flight: the
		// default keeps 2 per host, so with more in flight every request
		// beyond the second opened (and, over TLS, negotiated) a new one.
		t.MaxIdleConnsPerHost = cfg.Concurrency
		// Resume TLS sessions: every create opens a connection (below),
		// and a full handshake checks the server's certificate chain
		// each time. The clone below shares this cache (tls.Config.Clone
		// keeps it), keyed by server name, and the cache is this
		// client's: another account's endpoint never shares it. A
		// resumed session is still checked by crypto/tls against the
		// current roots, the clock and the host name; the client sends
		// no early data, so a create is never replayed. The default
		// transport's TLS config holds no more than the ALPN protocols
		// its HTTP/2 set-up added, which this transport's own set-up
		// adds again (ForceAttemptHTTP2), or fence.FenceConns replaces
		// with HTTP/1.1: nothing else changes.
		t.TLSClientConfig = &tls.Config{ClientSessionCache: tls.NewLRUClientSessionCache(0)}
		// A create goes on a connection of its own unless the pooled
		// connection speaks HTTP/2 and answered less than a second ago
		// (createOnOwnConn). Over HTTP/1.1, an idle keep-alive connection
		// the server (or a load balancer) drops without notice, just as a
		// request goes out on it, fails that request after it was
		// written: harmless for the others, retried, but a create is then
		// ambiguous (a failed pass, a search for a key made without its
		// secret). Over HTTP/2 a server closing an idle connection says
		// so first (GOAWAY, naming the last stream it processed), and
		// the client sends again, on a connection of its own, a create
		// the server never processed (sendCreate); a connection of its own
		// there cost a TCP connection and a TLS handshake per create,
		// about 40% of a rotation's CPU over TLS (the bench's TLS stage).
		ct := t.Clone()
		ct.DisableKeepAlives = true
		if cfg.Gate != nil {
			// The last check before a request's bytes leave is on the
			// connection's write (fence.Conn), over HTTP/1.1 only.
			// Every request of this client may share these connections:
			// do asks the gate before each attempt, reads included, so a
			// standby sends none.
			fence.FenceConns(t, cfg.Gate)
			fence.FenceConns(ct, cfg.Gate)
		}
		conns = &createOnOwnConn{RoundTripper: t, create: ct, now: time.Now}
		base = conns
	}
	var gate func() error
	if cfg.Gate != nil {
		gate = cfg.Gate.Check
		// Reads need no cut-off: do asks the gate before every attempt.
		base = fence.Transport(base, cfg.Gate, fence.SpareReads)
	}
	transport := &observingTransport{next: base, observe: cfg.Observe, now: time.Now, gate: gate}
	// Our own http.Client: the SDK's default one retries every method,
	// create included, which could mint keys whose secrets nobody sees.
	// No Timeout on it: do bounds each attempt with a deadline on its
	// context instead. With a RoundTripper net/http does not know (ours
	// observes and fences), Client.Timeout runs a goroutine and a timer
	// per request, and waking that goroutine at every answer cost a
	// thread switch, in the moments between an answer and the next
	// request.
	httpClient := &http.Client{Transport: transport, CheckRedirect: refusePlainRedirect(cfg.InsecureHTTP)}
	newSDK := func(cr Credentials) (*v3.Client, error) {
		return v3.NewClient(
			credentials.NewStaticCredentials(cr.Key, cr.Secret.Reveal()),
			v3.ClientOptWithEndpoint(v3.Endpoint(cfg.Endpoint)),
			v3.ClientOptWithHTTPClient(httpClient),
			v3.ClientOptWithUserAgent(strings.TrimSpace(version.UserAgent()+" "+cfg.UserAgentSuffix)),
		)
	}
	c := &Client{
		newSDK:   newSDK,
		cfg:      cfg,
		limiter:  newAdaptiveLimit(cfg.RateLimit, cfg.Burst, time.Now),
		inFlight: newInFlight(cfg.Concurrency, time.Now),
		sleep:    sleepCtx,
		jitter:   rand.Float64,
		now:      time.Now,
		conns:    conns,
	}
	if err := c.UseCredentials(cfg.Credentials); err != nil {
		return nil, err
	}
	return c, nil
}

// UseCredentials makes every later request sign with cr: rotatord switches
// to its own new key this way. Requests in flight finish with the old one.
func (c *Client) UseCredentials(cr Credentials) error {
	if cr.Key == "" || cr.Secret.IsZero() {
		return errors.New("apiclient: no credentials")
	}
	sdk, err := c.newSDK(cr)
	if err != nil {
		return fmt.Errorf("apiclient: %w", err)
	}
	c.sdk.Store(sdk)
	c.cred.Store(&cr)
	return nil
}

// WithCredentials returns a client like c that signs with cr: same
// endpoint, transport, timeouts and metrics, sharing c's rate limit and
// request slots. For a request that proves a credential works without
// switching c to it.
func (c *Client) WithCredentials(cr Credentials) (*Client, error) {
	n := &Client{
		newSDK:   c.newSDK,
		cfg:      c.cfg,
		limiter:  c.limiter,
		inFlight: c.inFlight,
		sleep:    c.sleep,
		jitter:   c.jitter,
		now:      c.now,
		conns:    c.conns,
	}
	if err := n.UseCredentials(cr); err != nil {
		return nil, err
	}
	return n, nil
}

// Credentials returns the credential requests sign with now.
func (c *Client) Credentials() Credentials { return *c.cred.Load() }

// ListKeys implements API.
func (c *Client) ListKeys(ctx context.Context) ([]Key, error) {
	var resp *v3.ListAPIKeysResponse
	err := c.do(ctx, OpListKeys, true, func(ctx context.Context) (err error) {
		resp, err = c.sdk.Load().ListAPIKeys(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	keys := make([]Key, 0, len(resp.APIKeys))
	for i, k := range resp.APIKeys {
		if k.Key == "" {
			return nil, &Error{Op: OpListKeys, Kind: KindInvalidResponse, Status: http.StatusOK,
				Message: fmt.Sprintf("entry %d has no key id", i)}
		}
		keys = append(keys, Key{ID: k.Key, Name: k.Name, RoleID: string(k.RoleID)})
	}
	return keys, nil
}

// GetKey implements API.
func (c *Client) GetKey(ctx context.Context, id string) (Key, error) {
	if id == "" {
		return Key{}, &Error{Op: OpGetKey, Kind: KindOther, Message: "empty key id"}
	}
	var resp *v3.IAMAPIKey
	err := c.do(ctx, OpGetKey, true, func(ctx context.Context) (err error) {
		resp, err = c.sdk.Load().GetAPIKey(ctx, id)
		return err
	})
	if err != nil {
		return Key{}, err
	}
	if resp.Key == "" {
		return Key{}, &Error{Op: OpGetKey, Kind: KindInvalidResponse, Status: http.StatusOK, Message: "answer has no key id"}
	}
	return Key{ID: resp.Key, Name: resp.Name, RoleID: string(resp.RoleID)}, nil
}

// CreateKey implements API. It retries only when the API should not have
// acted: a 429, or a request that never reached the wire. A 429 is an
// answer, though, and what answers may have acted before it (a proxy that
// rate-limits after the API made the key): CreatedKey.EarlierAttemptsAnswered
// counts them.
func (c *Client) CreateKey(ctx context.Context, name, roleID string) (CreatedKey, error) {
	var resp *v3.IAMAPIKeyCreated
	answered := 0
	err := c.doCounting(ctx, OpCreateKey, false, func(ctx context.Context) (err error) {
		resp, err = c.sdk.Load().CreateAPIKey(ctx, v3.CreateAPIKeyRequest{Name: name, RoleID: v3.UUID(roleID)})
		return err
	}, &answered)
	if err != nil {
		// The attempts answered before the failure may have made keys
		// too, one each: the caller's search for the failed create's key
		// must not end at the first it finds.
		return CreatedKey{EarlierAttemptsAnswered: answered}, err
	}
	if resp.Key == "" || resp.Secret == "" {
		// The key may exist, but without both parts we cannot deliver it.
		return CreatedKey{}, &Error{Op: OpCreateKey, Kind: KindAmbiguousCreate, Status: http.StatusOK,
			Message: "answer lacks the key id or the secret"}
	}
	return CreatedKey{
		Key:                     Key{ID: resp.Key, Name: resp.Name, RoleID: string(resp.RoleID)},
		Secret:                  secret.Value(resp.Secret),
		EarlierAttemptsAnswered: answered,
	}, nil
}

// createOnOwnConn sends a create (the client's only POST) with create, a
// transport opening a connection per request, and every other request
// with the embedded, pooled one, unless the pooled transport's last
// answer was HTTP/2 and came less than freshH2 ago: the create then goes
// on the pooled connection too. A server closing an idle HTTP/2
// connection sends GOAWAY with the last stream it processed, and a
// create above it (the server never saw it) is sent again on a
// connection of its own (sendCreate). What HTTP/2 does not cover is a connection dropped
// without a word (a NAT or an L4 load balancer forgetting a flow idle for
// long); one that carried an answer a moment ago has not been dropped as
// idle, and a pass's creates follow its listing, and each other, within
// milliseconds. Over HTTP/1.1 (plain http, a server without h2, or the
// fenced transport of leader election) a create always opens its own.
type createOnOwnConn struct {
	http.RoundTripper
	create http.RoundTripper
	now    func() time.Time

	mu     sync.Mutex
	lastH2 time.Time // when the pooled transport's last answer came, if HTTP/2; zero otherwise
}

// freshH2 is how recent the pooled transport's last HTTP/2 answer must be
// for a create to share its connection.
const freshH2 = time.Second

func (t *createOnOwnConn) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPost {
		return t.sendCreate(req)
	}
	return t.pooled(req)
}

// pooled sends req with the pooled transport, and records whether its
// answer was HTTP/2.
func (t *createOnOwnConn) pooled(req *http.Request) (*http.Response, error) {
	resp, err := t.RoundTripper.RoundTrip(req)
	var at time.Time
	if err == nil && resp.ProtoMajor == 2 {
		at = t.now()
	}
	// A failure, or an HTTP/1.1 answer, leaves the next create on a
	// connection of its own.
	t.mu.Lock()
	t.lastH2 = at
	t.mu.Unlock()
	return resp, err
}

// sendCreate sends a create, and sends it again, on a connection of its
// own (createRefusals, createTries), only when it was never sent or the
// server said it never processed it. Go's HTTP/2 client would send it
// again itself (Request.GetBody) on a GOAWAY above it or a REFUSED_STREAM,
// which say so (RFC 9113 8.7), but also on a RST_STREAM with
// PROTOCOL_ERROR, which does not (golang/go#47635): a server, or a proxy
// before it, may reset so a create it made, and with the key made a
// second time, the first one's secret was lost with nobody looking for
// it. So the create goes without GetBody, and the error Go's client then
// returns says which it was.
func (t *createOnOwnConn) sendCreate(req *http.Request) (*http.Response, error) {
	send := t.create.RoundTrip
	if t.pooledH2Fresh() {
		send = t.pooled
	}
	refusals := 0
	for try := 1; ; try++ {
		resent := try > 1
		var wrote, wroteHeaders atomic.Bool
		r := req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			WroteHeaders: func() { wroteHeaders.Store(true) },
			WroteRequest: func(info httptrace.WroteRequestInfo) {
				if info.Err == nil {
					wrote.Store(true)
				}
			},
		}))
		r.GetBody = nil
		if resent {
			body, err := req.GetBody()
			if err != nil {
				return nil, &notProcessedError{err} // refused, unprocessed, before
			}
			r.Body = body
		}
		resp, err := send(r)
		if err == nil {
			return resp, nil
		}
		refused := refusedUnprocessed(err)
		if wrote.Load() && !refused {
			return nil, err // the key may have been made: ambiguous
		}
		if !refused && wroteHeaders.Load() && r.Context().Err() != nil {
			// Go's HTTP/2 client returns at the end of the request's
			// context without waiting for the goroutine writing the
			// request: the body may have gone (or go, once a write
			// holding the connection ends), WroteRequest still to come.
			// The headers went: so may the rest have.
			return nil, &mayHaveBeenSentError{err}
		}
		if !resent && !refused && !cannotRewind(err) {
			return nil, err // never sent: classify sees it so too
		}
		// Nothing made: refused unprocessed, or never sent, net/http
		// unable to take it to another connection without GetBody (an
		// HTTP/2 connection found unusable as the create went: closed
		// by the server as idle, or raced for by another create). Once
		// a try was refused, the attempt made nothing even if a later
		// one never went (the transport saw the first written).
		if refused {
			refusals++
			err = errRefusedUnprocessed
		}
		if refusals == createRefusals || try == createTries || req.GetBody == nil || req.Context().Err() != nil {
			return nil, &notProcessedError{err}
		}
		send = t.create.RoundTrip
	}
}

// createRefusals and createTries bound how often sendCreate sends a
// create the server never processed: refused unprocessed a few times,
// or never sent (a connection found unusable as the create went, which
// concurrent creates meet, each on a connection of its own, as they race
// for the connections dialed), on a fresh connection each time, then
// the client's retries, spaced, take over. A server refusing every
// stream (shutting down) made Go's client send it again at once, over
// and over.
const (
	createRefusals = 3
	createTries    = 10
)

// refusedUnprocessed reports whether err, from Go's HTTP/2 client for a
// request without GetBody, says the server never processed the request:
// a GOAWAY naming a stream below it, or a RST_STREAM with REFUSED_STREAM
// (the errors it would have sent the request again for). Go's client
// wraps them as text only (h2_bundle.go: shouldRetryRequest's "cannot
// retry err [...]", or bare after its own retries). The whole text must
// be one of these: a substring could be the server's, quoted in another
// error (a GOAWAY's debug data, naming the create's stream as
// processed), and the create would be sent twice. Worded otherwise by a
// later Go, they would leave the create ambiguous, not sent twice; the
// tests of create_h2_reset_test.go would fail.
func refusedUnprocessed(err error) bool {
	s := err.Error()
	if inner, ok := strings.CutPrefix(s, h2CannotRetryPrefix); ok {
		if inner, ok = strings.CutSuffix(inner, h2CannotRetrySuffix); ok {
			s = inner
		}
	}
	return s == h2GotGoAway || h2RefusedStream.MatchString(s)
}

// The texts of Go's HTTP/2 client (h2_bundle.go) refusedUnprocessed
// recognizes.
const (
	h2CannotRetryPrefix = "http2: Transport: cannot retry err ["
	h2CannotRetrySuffix = "] after Request.Body was written; define Request.GetBody to avoid this error"
	h2GotGoAway         = "http2: Transport received Server's graceful shutdown GOAWAY"
)

var h2RefusedStream = regexp.MustCompile(`^stream error: stream ID [0-9]+; REFUSED_STREAM; received from peer$`)

// cannotRewind reports whether err is net/http's refusal to send again,
// on another connection, a request it had not sent (its only other
// resends being of requests without a body or with GetBody).
func cannotRewind(err error) bool {
	return err.Error() == "net/http: cannot rewind body after connection loss"
}

var errRefusedUnprocessed = errors.New("the server refused it unprocessed (HTTP/2 GOAWAY or REFUSED_STREAM)")

// mayHaveBeenSentError is a create whose request may have been written
// whole though WroteRequest did not say so: classify takes it for
// ambiguous.
type mayHaveBeenSentError struct{ err error }

func (e *mayHaveBeenSentError) Error() string { return e.err.Error() }
func (e *mayHaveBeenSentError) Unwrap() error { return e.err }

// notProcessedError is a create that the server did not process, though
// its request was written: classify does not take it for ambiguous.
type notProcessedError struct{ err error }

func (e *notProcessedError) Error() string { return "not processed: " + e.err.Error() }
func (e *notProcessedError) Unwrap() error { return e.err }

func (t *createOnOwnConn) pooledH2Fresh() bool {
	t.mu.Lock()
	last := t.lastH2
	t.mu.Unlock()
	if last.IsZero() {
		return false
	}
	age := t.now().Sub(last)
	return age >= 0 && age < freshH2
}

// CloseIdleConnections closes both transports' idle connections.
func (t *createOnOwnConn) CloseIdleConnections() {
	for _, rt := range []http.RoundTripper{t.RoundTripper, t.create} {
		if c, ok := rt.(interface{ CloseIdleConnections() }); ok {
			c.CloseIdleConnections()
		}
	}
}

// DeleteKey implements API.
func (c *Client) DeleteKey(ctx context.Context, id string) error {
	if id == "" {
		return &Error{Op: OpDeleteKey, Kind: KindOther, Message: "empty key id"}
	}
	var op *v3.Operation
	err := c.do(ctx, OpDeleteKey, true, func(ctx context.Context) (err error) {
		op, err = c.sdk.Load().DeleteAPIKey(ctx, id)
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return nil // already gone, maybe by an earlier attempt of ours
	}
	if e := (*Error)(nil); errors.As(err, &e) && e.Kind == KindInvalidResponse && e.Status >= 200 && e.Status < 300 && e.Message != ErrAnswerTooLarge.Error() {
		// A success without an operation in it (no body, a 204): it
		// says nothing of the deletion, the key does (waitOperation).
		op, err = &v3.Operation{}, nil
	}
	if err != nil {
		return err
	}
	return c.waitOperation(ctx, id, op)
}

// waitOperation polls the operation deleting key id until it leaves
// "pending", with growing delays and an overall bound. Every field of the
// operation schema is optional: one without its state says nothing either
// way, so the key is asked for instead (gone is done), and while it is
// still there the operation, when it has an id, is asked again. One
// pending without an id cannot be asked again, nor one the API no longer
// finds: the key is, the same way.
func (c *Client) waitOperation(ctx context.Context, id string, op *v3.Operation) error {
	deadline := c.now().Add(c.cfg.DeleteTimeout)
	delay := c.cfg.PollInterval
	for {
		state := op.State
		if state == v3.OperationStatePending && op.ID == "" {
			// Pending, and nothing to ask about it: the key says when
			// the deletion is done, as for an operation without state.
			state = ""
		}
		switch state {
		case v3.OperationStateSuccess:
			return nil
		case v3.OperationStatePending:
		case "":
			_, err := c.GetKey(ctx, id)
			if errors.Is(err, ErrNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
		case v3.OperationStateFailure:
			if op.Reason == v3.OperationReasonNotFound {
				// The key was not there to delete: gone is done, as a
				// 404 to the DELETE is, once the key's GET agrees.
				if _, err := c.GetKey(ctx, id); errors.Is(err, ErrNotFound) {
					return nil
				}
			}
			return &Error{Op: OpDeleteKey, Kind: KindOther,
				Message: fmt.Sprintf("operation %s ended in state %q (reason %q)", op.ID, op.State, op.Reason)}
		default:
			return &Error{Op: OpDeleteKey, Kind: KindOther,
				Message: fmt.Sprintf("operation %s ended in state %q (reason %q)", op.ID, op.State, op.Reason)}
		}
		if c.now().Add(delay).After(deadline) {
			what := "operation " + string(op.ID) + " still pending"
			if state == "" {
				what = "key " + id + " still there"
			}
			return &Error{Op: OpDeleteKey, Kind: KindUnavailable,
				Message: fmt.Sprintf("%s after %s", what, c.cfg.DeleteTimeout)}
		}
		if err := c.sleep(ctx, delay); err != nil {
			return err
		}
		delay = min(delay*3/2, 10*time.Second)
		if op.ID == "" {
			continue // no operation to ask: the key is asked again
		}
		opID := op.ID
		var next *v3.Operation
		err := c.do(ctx, OpGetOperation, true, func(ctx context.Context) (err error) {
			next, err = c.sdk.Load().GetOperation(ctx, opID)
			return err
		})
		if errors.Is(err, ErrNotFound) {
			// The API no longer finds the operation: the key says
			// whether the deletion is done. Returned, the "not found"
			// would read as a key already gone.
			next, err = &v3.Operation{}, nil
		}
		if err != nil {
			return err
		}
		op = next
	}
}

// ListRoles implements API.
func (c *Client) ListRoles(ctx context.Context) ([]Role, error) {
	var resp *v3.ListIAMRolesResponse
	err := c.do(ctx, OpListRoles, true, func(ctx context.Context) (err error) {
		resp, err = c.sdk.Load().ListIAMRoles(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	roles := make([]Role, 0, len(resp.IAMRoles))
	for _, r := range resp.IAMRoles {
		roles = append(roles, Role{ID: string(r.ID), Name: r.Name, Description: r.Description})
	}
	return roles, nil
}

// do runs one SDK call with retries. idempotent says whether a call whose
// outcome is unknown may be sent again.
func (c *Client) do(ctx context.Context, op string, idempotent bool, call func(context.Context) error) error {
	return c.doCounting(ctx, op, idempotent, call, nil)
}

// doCounting is do; answered, when not nil, counts the attempts the API
// answered (with a status) and the call retried.
func (c *Client) doCounting(ctx context.Context, op string, idempotent bool, call func(context.Context) error, answered *int) error {
	waitedRetryAfter := false // this call's own retry waited it out already
	for n := 1; ; n++ {
		a := &attempt{op: op}
		release, full, err := c.acquire(ctx, !waitedRetryAfter)
		if err != nil {
			var e *Error
			if errors.As(err, &e) {
				e.Op, e.Attempts = op, n-1
				return e
			}
			return fmt.Errorf("%s: %w", op, err)
		}
		if c.cfg.Gate != nil {
			if err := c.cfg.Gate.Check(); err != nil {
				release()
				return fmt.Errorf("%s: %w", op, err)
			}
		}
		attemptCtx, cancel := context.WithTimeout(withAttempt(ctx, a), c.cfg.Timeout)
		err = call(attemptCtx)
		cancel()
		// What the answer says about the API's load is recorded before
		// the slot goes: a push back must hold the request that takes the
		// slot next, not only this one's retry.
		var (
			e      *Error
			handed bool // a growth of the window gave a waiter a slot
		)
		if err == nil {
			c.limiter.succeeded()
			handed = c.inFlight.succeeded()
		} else {
			e = classify(op, idempotent, err, a)
			e.Attempts = n
			if e.Kind == KindRateLimited || e.Status == http.StatusServiceUnavailable {
				// The API pushes back: every request slows down, not only
				// this one's retry, and fewer go out at once. A Retry-After
				// holds the other requests for MaxRetryAfter at most: this
				// one gives up beyond it (below), and they try again then.
				// A server that asked for years would otherwise stop every
				// request of the process for good, while each of them held
				// its slot.
				c.limiter.pushedBack(min(e.RetryAfter, c.cfg.MaxRetryAfter))
				if e.RetryAfter > c.cfg.MaxRetryAfter {
					// Longer than the client ever waits: the other
					// requests give up too, unsent, for MaxRetryAfter.
					// Each of them waiting it out, going out and being
					// told the same made a pass last MaxRetryAfter per
					// request.
					c.limiter.refuseFor(c.cfg.MaxRetryAfter)
				}
				c.inFlight.pushedBack(full)
			} else if e.Status != 0 {
				// An answer, and not about the rate or the load.
				c.limiter.succeeded()
				handed = c.inFlight.succeeded()
			}
		}
		if release() || handed {
			// The slot went to a request waiting for it: let that one go
			// out now, before this goroutine goes on with what the answer
			// means (a journal step, a sink write). With every slot busy,
			// the time between an answer and the next request is time the
			// API's window stands idle.
			runtime.Gosched()
		}
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			// The caller gave up; an ambiguous create stays ambiguous.
			if e.Kind == KindAmbiguousCreate {
				return e
			}
			return fmt.Errorf("%s: %w", op, ctx.Err())
		}
		if !retryable(e) || n > c.cfg.MaxRetries {
			return e
		}
		if answered != nil && e.Status != 0 {
			*answered++
		}
		if e.Status != 0 {
			if herr := beforeAnsweredRetry(ctx); herr != nil {
				return fmt.Errorf("%w (not sent again: %v)", e, herr)
			}
		}
		wait := c.backoff(n)
		if e.RetryAfter > 0 {
			if e.RetryAfter > c.cfg.MaxRetryAfter {
				return e
			}
			wait = e.RetryAfter
			waitedRetryAfter = true
		}
		if c.cfg.OnRetry != nil {
			c.cfg.OnRetry(op, n, wait, e)
		}
		if err := c.waitFor(ctx, wait); err != nil {
			if errors.Is(err, errInterrupted) {
				return e // the retry is not sent: the refusal stands
			}
			return fmt.Errorf("%s: %w", op, err)
		}
	}
}

// RetryFunc hears of each retry: the operation, the attempt that failed
// (1 for the first), how long the client waits before the next one, and
// why (an *Error, which never quotes an answer's body or a secret).
type RetryFunc func(op string, attempt int, wait time.Duration, err error)

// backoff is exponential with jitter: a random delay in [d/2, d] where d
// doubles from RetryBaseDelay up to RetryMaxDelay.
func (c *Client) backoff(retry int) time.Duration {
	d := c.cfg.RetryBaseDelay
	for i := 1; i < retry && d < c.cfg.RetryMaxDelay; i++ {
		d *= 2
	}
	d = min(d, c.cfg.RetryMaxDelay)
	return d/2 + time.Duration(c.jitter()*float64(d/2))
}

// acquire waits for a place in the window of requests in flight and a
// rate-limit token; full says whether the request filled the window.
// While a Retry-After is in force, the request waits it out (unless pause
// is false: its own retry, which waited already).
func (c *Client) acquire(ctx context.Context, pause bool) (release func() bool, full bool, err error) {
	full, err = c.acquireSlot(ctx)
	if err != nil {
		return nil, false, err
	}
	// A refusal to send, or a longer pause, that another answer brings
	// while this request waits out a pause, or waits for the rate's token
	// (below the ceiling, the requests a pause held take turns), holds it
	// too: it looks again once each wait is over (only then: a pause that
	// has not moved is over, whatever the clock says). A token taken
	// before a pause is not spent after it: the requests the pause held
	// would all leave together as it ends.
	var waited time.Time
	token := false
	for {
		refuse, end, p := c.limiter.holds()
		if refuse > 0 {
			c.inFlight.release()
			return nil, false, &Error{Kind: KindRateLimited, RetryAfter: refuse,
				Message: fmt.Sprintf("not sent: the API asked to wait longer than %s, %s left", c.cfg.MaxRetryAfter, refuse.Round(time.Second))}
		}
		if pause && p > 0 && end.After(waited) {
			waited, token = end, false
			if err := c.waitFor(ctx, p); err != nil {
				c.inFlight.release()
				if errors.Is(err, errInterrupted) {
					return nil, false, &Error{Kind: KindRateLimited, RetryAfter: p,
						Message: "not sent: interrupted while waiting out the API's Retry-After"}
				}
				return nil, false, err
			}
			continue
		}
		if token {
			break
		}
		if err := c.limiter.wait(ctx); err != nil {
			c.inFlight.release()
			return nil, false, err
		}
		token = true
	}
	return c.inFlight.release, full, nil
}

// acquireSlot waits for a place among the requests in flight. The
// requests that hold them may be waiting out a Retry-After (a pass's
// listing, which nothing interrupts): while one is in force, the interrupt
// of ctx (WithInterrupt) ends this wait too, unsent, and so does one that
// comes into force after the interrupt, while the request still waits.
// Without one, the places free up as answers come, and the wait is not
// cut short.
func (c *Client) acquireSlot(ctx context.Context) (bool, error) {
	ch, _ := ctx.Value(interruptKey{}).(<-chan struct{})
	if ch == nil {
		return c.inFlight.acquire(ctx)
	}
	if full, ok := c.inFlight.tryAcquire(); ok {
		return full, nil
	}
	wctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		select {
		case <-ch:
		case <-wctx.Done():
			return
		}
		// Interrupted: the wait ends as soon as a Retry-After is in
		// force, whether it was as the interrupt closed or came after
		// (an answer to a request in flight then, whose place may go to
		// one that holds it through that Retry-After).
		for {
			held := c.limiter.heldSignal()
			if c.limiter.pauseLeft() > 0 || c.limiter.refusing() > 0 {
				cancel(errInterrupted)
				return
			}
			select {
			case <-held:
			case <-wctx.Done():
				return
			}
		}
	}()
	full, err := c.inFlight.acquire(wctx)
	if err != nil && ctx.Err() == nil && errors.Is(context.Cause(wctx), errInterrupted) {
		return false, &Error{Kind: KindRateLimited, RetryAfter: c.limiter.pauseLeft(),
			Message: "not sent: interrupted while waiting for a place among the requests in flight, held through the API's Retry-After"}
	}
	return full, err
}

func retryable(e *Error) bool {
	switch e.Kind {
	case KindRateLimited:
		return true // a 429 means the request was not acted on
	case KindUnavailable:
		// For create, classify only reports unavailable when the request
		// never left this process; otherwise it says ambiguous.
		return true
	}
	return false
}

// classify turns an SDK error into an *Error using what the transport saw.
func classify(op string, idempotent bool, err error, a *attempt) *Error {
	status, retryAfter, wrote, jsonError := a.snapshot()
	e := &Error{Op: op, Status: status}
	var (
		apiErr   *v3.APIError
		redirect *plainRedirectError
	)
	switch {
	case errors.As(err, &redirect):
		e.Kind = KindOther
		e.Message = redirect.Error()
	case errors.As(err, &apiErr):
		said := answerMessages(apiErr)
		if len(said) > 0 {
			e.Message = said[0]
		}
		if !jsonError {
			// The SDK made the raw body the message: never quote it.
			e.Message = "answer body is not JSON"
		}
		// The words that say a key is gone count in whichever field
		// carries them: under "detail" or "title", a 403 of a key
		// already gone was taken for an authentication failure. They
		// count only for a request that names a key, and only when the
		// answer says nothing else (see keyNotInOrganization).
		e.Kind, e.RetryAfter = kindOfStatus(status, jsonError && keyNotInOrganization(op, status, said), retryAfter)
	case a.wasTooLarge():
		// Not quoted either; the API (or whatever answers for it) is
		// misbehaving, and the request may go through again later.
		e.Kind = KindInvalidResponse
		e.Message = ErrAnswerTooLarge.Error()
	case status >= 200 && status < 300:
		// The API answered but the SDK could not decode the body. The raw
		// decoder error is not kept: for create it could quote the secret.
		e.Kind = KindInvalidResponse
		e.Message = "answer could not be decoded"
	case status >= 400 && status <= 599:
		// An error answer whose body the SDK could not read, or read as
		// JSON that is not an object (a bare string, an array): the status
		// still says what happened. Taken for a network failure, a 404 of
		// a key already gone was retried, and failed, for good.
		e.Kind, e.RetryAfter = kindOfStatus(status, false, retryAfter)
		e.Message = "answer body could not be read"
	default:
		e.Kind = KindUnavailable
		e.Message = transportMessage(err)
	}
	if !idempotent && e.Kind != KindNotFound && e.Kind != KindAuth && e.Kind != KindRateLimited && e.Kind != KindOther {
		// Create: unless the request never left, or the API said no, the
		// key may exist.
		var (
			notProcessed *notProcessedError
			maySent      *mayHaveBeenSentError
		)
		if (wrote || status != 0 || errors.As(err, &maySent)) && !errors.As(err, &notProcessed) {
			e.Kind = KindAmbiguousCreate
		}
	}
	return e
}

// msgNotInOrganization is what the API answers for a key that is not (or
// no longer) in the organization.
const msgNotInOrganization = "API Key not in organization"

// answerMessages returns what an error answer says, in the fields the SDK
// reads: "message" (or "error"), "detail", the "errors" entries and
// "title", most telling first. Empty ones are left out.
func answerMessages(e *v3.APIError) []string {
	var said []string
	add := func(m string) {
		if m != "" {
			said = append(said, m)
		}
	}
	add(e.Message)
	add(e.Detail)
	for _, x := range e.Errors {
		add(x.Detail)
	}
	add(e.Title)
	return said
}

// keyNotInOrganization reports whether an error answer of op, with that
// status, saying said (answerMessages), says that the key the request
// names is not (or no longer) in the organization. Only get-api-key and
// delete-api-key name a key: to a listing, a create or an operation's
// poll, the words can only be about the credential, and taken for "not
// found" a roles listing answered so read as "roles not served" to the
// organization check, which went on with a credential it could not place.
// And the answer must say nothing else than the words and the status's
// own text ("Forbidden"): one that also says "Invalid request signature"
// (under another field) refuses the credential, and taken for a key
// already gone, a delete refused was recorded as done, the key alive.
func keyNotInOrganization(op string, status int, said []string) bool {
	if op != OpGetKey && op != OpDeleteKey {
		return false
	}
	found := false
	for _, m := range said {
		switch m {
		case msgNotInOrganization:
			found = true
		case http.StatusText(status):
		default:
			return false
		}
	}
	return found
}

// kindOfStatus is the kind of an error answer of that status, and how
// long it asks to wait; keyGone says the answer says the key the request
// names is not in the organization (keyNotInOrganization).
func kindOfStatus(status int, keyGone bool, retryAfter time.Duration) (Kind, time.Duration) {
	switch {
	case status == http.StatusNotFound:
		return KindNotFound, 0
	case status >= 400 && status < 500 && status != http.StatusTooManyRequests && keyGone:
		// What the API answers for a key that is not (or no longer)
		// there: measured as a 403, documented as "a 4xx".
		return KindNotFound, 0
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return KindAuth, 0
	case status == http.StatusTooManyRequests:
		return KindRateLimited, retryAfter
	case status == http.StatusNotImplemented:
		return KindOther, 0
	case status == http.StatusServiceUnavailable:
		return KindUnavailable, retryAfter
	case status >= 500:
		return KindUnavailable, 0
	default:
		return KindOther, 0
	}
}

// transportMessage describes a transport failure without quoting anything
// from the request.
func transportMessage(err error) string {
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline exceeded"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	default:
		var opErr *net.OpError
		if errors.As(err, &opErr) {
			return opErr.Op + ": " + opErr.Err.Error()
		}
		return "connection failed: " + rootCause(err).Error()
	}
}

func rootCause(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// refusePlainRedirect is the client's redirect policy: net/http's (at
// most 10), but never to plain http on a host that is not loopback unless
// insecure says so. The endpoint itself may not be such a URL
// (config.CheckTransport); a redirect there would carry the request and
// its answer, a new key's secret, in clear, and whoever answers on the way
// could give a key of their own for rotatord to deliver.
func refusePlainRedirect(insecure bool) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		if insecure || !plainhttp.ToNetwork(req.URL) {
			return nil
		}
		return &plainRedirectError{to: RedactURL(req.URL.Scheme + "://" + req.URL.Host)}
	}
}

// plainRedirectError is refusePlainRedirect's refusal. It is this
// client's own policy, the same at every attempt, not a failure on the
// way: classify neither retries it nor takes a create it refused for
// ambiguous (the endpoint answered with a redirect: it made nothing).
type plainRedirectError struct{ to string }

func (e *plainRedirectError) Error() string {
	return "refused a redirect to plain http on " + e.to + ", a host that is not loopback: the answer, a new key's secret included, would cross the network in clear (use https, or set insecure_http: true for a test setup)"
}
