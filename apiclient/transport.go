package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
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
	a.record(resp.StatusCode, parseRetryAfter(resp.Header.Get("Retry-After"), t.now()), jsonError)
	t.report(a.op, strconv.Itoa(resp.StatusCode), elapsed)
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		Answered(ctx)
	}
	return resp, nil
}

// maxErrorBody bounds how much of an error answer is read.
const maxErrorBody = 64 << 10

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
