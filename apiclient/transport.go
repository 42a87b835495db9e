package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"sync"
	"time"
)

// ObserveFunc receives one call per HTTP attempt: the operation id, the
// status code as text ("200", "503", or "error" when no response came) and
// how long the attempt took. The metrics layer plugs in here.
type ObserveFunc func(op, code string, elapsed time.Duration)

// attempt is what the transport learns about one HTTP attempt. The SDK only
// hands back an error, so the transport records the facts the retry logic
// needs (status, Retry-After, whether the request reached the wire) here,
// reached through the request's context.
type attempt struct {
	op         string
	mu         sync.Mutex
	status     int
	retryAfter time.Duration
	wrote      bool // the request was written to the connection
	// jsonError tells whether an error answer's body was JSON: the SDK
	// turns any other body into the error message, and a body we did not
	// expect (a proxy's page, an echo) must not reach an error text.
	jsonError bool
	// tooLarge: the answer was longer than maxAnswerBody and cut there.
	tooLarge bool
}

func (a *attempt) markTooLarge() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.tooLarge = true
}

func (a *attempt) wasTooLarge() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.tooLarge
}

func (a *attempt) record(status int, retryAfter time.Duration, jsonError bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.status, a.retryAfter, a.jsonError = status, retryAfter, jsonError
}

func (a *attempt) markWritten() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.wrote = true
}

func (a *attempt) snapshot() (status int, retryAfter time.Duration, wrote, jsonError bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.status, a.retryAfter, a.wrote, a.jsonError
}

type attemptKey struct{}

func withAttempt(ctx context.Context, a *attempt) context.Context {
	return context.WithValue(ctx, attemptKey{}, a)
}

type answerHookKey struct{}

// WithAnswerHook returns a context whose requests call f each time a
// successful answer's headers are in, before its body is read and decoded
// (in the goroutine that made the request). A pass uses it to know when
// its listing's decoding begins, which a wait for the server does not.
func WithAnswerHook(ctx context.Context, f func()) context.Context {
	return context.WithValue(ctx, answerHookKey{}, f)
}

// Answered calls the hook WithAnswerHook put in ctx, if any. The client
// calls it for each successful answer; an implementation of API that makes
// no HTTP requests (a test's fake) may call it as its answer comes.
func Answered(ctx context.Context) {
	if f, ok := ctx.Value(answerHookKey{}).(func()); ok {
		f()
	}
}

type answeredRetryKey struct{}

// WithAnsweredRetryHook returns a context whose calls run f before they
// send again an attempt the API answered (a 429): a create's caller
// records, before the next attempt, that the answered one may have made a
// key (a process killed during the wait must not forget it). An error
// from f ends the call: the answer's error is returned, with f's.
func WithAnsweredRetryHook(ctx context.Context, f func() error) context.Context {
	return context.WithValue(ctx, answeredRetryKey{}, f)
}

func beforeAnsweredRetry(ctx context.Context) error {
	if f, ok := ctx.Value(answeredRetryKey{}).(func() error); ok {
		return f()
	}
	return nil
}

type serverTimeKey struct{}

// ServerClock holds the time the API's last successful answer gave in its
// Date header, for a caller that must count time on the API's clock: one
// that outlasts rotatord's restarts and ignores a host clock that jumps.
type ServerClock struct {
	mu sync.Mutex
	at time.Time
}

// Now is the Date of the last successful answer of the requests made with
// the context WithServerClock returned; zero when none carried one.
func (c *ServerClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.at
}

// WithServerClock returns a context whose requests record in the returned
// clock the Date of each successful answer.
func WithServerClock(ctx context.Context) (context.Context, *ServerClock) {
	c := &ServerClock{}
	return context.WithValue(ctx, serverTimeKey{}, c), c
}

// NoteServerTime records t in the ServerClock of ctx, if any. The client
// calls it for each successful answer with a Date; an implementation of
// API that makes no HTTP requests (a test's fake) may call it too.
func NoteServerTime(ctx context.Context, t time.Time) {
	if c, ok := ctx.Value(serverTimeKey{}).(*ServerClock); ok && !t.IsZero() {
		c.mu.Lock()
		c.at = t
		c.mu.Unlock()
	}
}

// observingTransport records each attempt's outcome for the retry logic
// and reports it to the metrics hook.
type observingTransport struct {
	next    http.RoundTripper
	observe ObserveFunc
	now     func() time.Time
	// gate (Config.Gate) is asked again right before the request goes:
	// the narrowest window between the check and the send.
	gate func() error
}

func (t *observingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	a, _ := ctx.Value(attemptKey{}).(*attempt)
	if a == nil {
		a = &attempt{op: "unknown"}
	}
	trace := &httptrace.ClientTrace{
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			if info.Err == nil {
				a.markWritten()
			}
		},
	}
	req = req.WithContext(httptrace.WithClientTrace(ctx, trace))

	if t.gate != nil {
		if err := t.gate(); err != nil {
			return nil, err // never written: not an ambiguous create
		}
	}
	start := t.now()
	resp, err := t.next.RoundTrip(req)
	elapsed := t.now().Sub(start)
	if err != nil {
		t.report(a.op, "error", elapsed)
		return nil, err
	}
	jsonError := false
	if resp.StatusCode >= 400 {
		// Error bodies are small; read one to tell JSON from anything else,
		// then hand the same bytes on to the SDK.
		b, rerr := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		resp.Body.Close()
		if rerr != nil {
			t.report(a.op, "error", elapsed)
			return nil, rerr
		}
		jsonError = json.Valid(b)
		resp.Body = io.NopCloser(bytes.NewReader(b))
	}
	if resp.StatusCode < 400 {
		// A server that lies could stream an endless answer; the SDK would
		// hold all of it in memory.
		if resp.ContentLength > maxAnswerBody {
			resp.Body.Close()
			a.markTooLarge()
			t.report(a.op, "error", elapsed)
			return nil, fmt.Errorf("%w: Content-Length %d", ErrAnswerTooLarge, resp.ContentLength)
		}
		resp.Body = &boundedBody{ReadCloser: resp.Body, left: maxAnswerBody, exceeded: a.markTooLarge}
		if a.op == OpListRoles && resp.StatusCode >= 200 && resp.StatusCode < 300 {
			resp.Body = onlyRoleFields(resp.Body)
		}
	}
	a.record(resp.StatusCode, parseRetryAfter(resp.Header.Get("Retry-After"), t.now()), jsonError)
	t.report(a.op, strconv.Itoa(resp.StatusCode), elapsed)
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if d, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
			NoteServerTime(ctx, d)
		}
		Answered(ctx)
	}
	return resp, nil
}

// onlyRoleFields reads a listing of roles and hands on only the fields
// rotatord reads (id, name, description) of each, where they are strings.
// The API document names the other fields of a role without their types:
// one the SDK would type otherwise (labels as a list, a policy as text)
// must not fail the whole listing. A body that is no listing of objects is
// handed on as it came, for the SDK to refuse; a read error stays one.
func onlyRoleFields(body io.ReadCloser) io.ReadCloser {
	b, err := io.ReadAll(body)
	body.Close()
	if err != nil {
		return io.NopCloser(io.MultiReader(bytes.NewReader(b), errReader{err}))
	}
	var in struct {
		Roles []map[string]json.RawMessage `json:"iam-roles"`
	}
	if json.Unmarshal(b, &in) != nil {
		return io.NopCloser(bytes.NewReader(b))
	}
	type role struct {
		ID          string `json:"id,omitempty"`
		Name        string `json:"name,omitempty"`
		Description string `json:"description,omitempty"`
	}
	out := struct {
		Roles []role `json:"iam-roles"`
	}{Roles: make([]role, 0, len(in.Roles))}
	for _, r := range in.Roles {
		var k role
		// A field that is not a string is left out, as if absent.
		_ = json.Unmarshal(r["id"], &k.ID)
		_ = json.Unmarshal(r["name"], &k.Name)
		_ = json.Unmarshal(r["description"], &k.Description)
		out.Roles = append(out.Roles, k)
	}
	nb, err := json.Marshal(out)
	if err != nil {
		return io.NopCloser(bytes.NewReader(b))
	}
	return io.NopCloser(bytes.NewReader(nb))
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// maxErrorBody bounds how much of an error answer is read.
const maxErrorBody = 64 << 10

// maxAnswerBody bounds any other answer: a listing of 60,000 keys is
// about 15 MiB. A variable for tests.
var maxAnswerBody int64 = 16 << 20

// ErrAnswerTooLarge means an answer of the API was longer than
// maxAnswerBody: it is not read further.
var ErrAnswerTooLarge = errors.New("the API's answer is larger than 16 MiB: not read")

// boundedBody fails a read past its limit, instead of handing on an answer
// of any length.
type boundedBody struct {
	io.ReadCloser
	left     int64
	exceeded func()
}

func (b *boundedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// Past the limit: one more byte tells a body of exactly the
		// limit from a longer one.
		var one [1]byte
		n, err := b.ReadCloser.Read(one[:])
		if n > 0 {
			if b.exceeded != nil {
				b.exceeded()
			}
			return 0, ErrAnswerTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, err
}

func (t *observingTransport) report(op, code string, elapsed time.Duration) {
	if t.observe != nil {
		t.observe(op, code, elapsed)
	}
}

// parseRetryAfter reads both forms of Retry-After: delay-seconds and an HTTP date.
// A delay too long for a time.Duration (about 292 years) is the longest
// one, not a number wrapped around to a short or negative wait.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseUint(v, 10, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		if err != nil || secs > uint64(math.MaxInt64/int64(time.Second)) {
			return time.Duration(math.MaxInt64)
		}
		return time.Duration(secs) * time.Second
	}
	if when, err := http.ParseTime(v); err == nil {
		if d := when.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

type interruptKey struct{}

// WithInterrupt returns a context whose requests stop waiting, unsent,
// when ch closes: the waits for a Retry-After or a retry's backoff. A
// request already sent is not cut off. A reload uses it so that a server
// asking to wait does not hold it.
func WithInterrupt(ctx context.Context, ch <-chan struct{}) context.Context {
	return context.WithValue(ctx, interruptKey{}, ch)
}

// errInterrupted ends a wait WithInterrupt's channel cut short.
var errInterrupted = errors.New("wait interrupted")

// waitFor sleeps d unless ctx ends (its error) or its interrupt channel
// closes first (errInterrupted).
func (c *Client) waitFor(ctx context.Context, d time.Duration) error {
	ch, _ := ctx.Value(interruptKey{}).(<-chan struct{})
	if ch == nil {
		return c.sleep(ctx, d)
	}
	select {
	case <-ch:
		return errInterrupted
	default:
	}
	wctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		select {
		case <-ch:
			cancel(errInterrupted)
		case <-wctx.Done():
		}
	}()
	err := c.sleep(wctx, d)
	if err != nil && ctx.Err() == nil && errors.Is(context.Cause(wctx), errInterrupted) {
		return errInterrupted
	}
	return err
}

// InterruptOf returns the channel WithInterrupt put in ctx, nil when none:
// for an implementation of API that makes no HTTP requests (a test's fake).
func InterruptOf(ctx context.Context) <-chan struct{} {
	ch, _ := ctx.Value(interruptKey{}).(<-chan struct{})
	return ch
}
