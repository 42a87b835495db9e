package exosim

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// MaxRequests bounds the request log: beyond it the oldest entries are
// dropped (RequestLog.Dropped counts them), so that a long benchmark or
// chaos run does not grow the simulator without end.
const MaxRequests = 100000

// Request is one API call as the simulator received it: who sent it (the
// User-Agent, which a rotatord replica suffixes with "replica/IDENTITY",
// and the key it claims to sign with) and when. Tests use it to tell which
// process made each write, and when it reached the API.
type Request struct {
	// Seq numbers the calls from 1 in arrival order.
	Seq int `json:"seq"`
	// Op is the operation id (OpCreateAPIKey, ...).
	Op     string `json:"op"`
	Method string `json:"method"`
	Path   string `json:"path"`
	// Key is the key of the Authorization header's credential, as sent
	// (before the signature is checked); empty when unsigned.
	Key       string `json:"key,omitempty"`
	UserAgent string `json:"user_agent"`
	// Proto is the HTTP version the call came in ("HTTP/1.1",
	// "HTTP/2.0") and TLS whether it came over TLS: what a client
	// negotiated with a server started with StartTLS.
	Proto string `json:"proto"`
	TLS   bool   `json:"tls"`
	// Remote is the client's address (IP:port): the calls of one
	// connection share it, so the connections a client used can be
	// counted after the fact, however they were closed.
	Remote string `json:"remote"`
	// Received is when the call arrived, before any injected latency: a
	// create that the latency fault holds back counts from its arrival.
	Received time.Time `json:"received"`
	// Answered is when the answer was decided (zero while the call is
	// still pending); Status is that answer's status, 0 for a call with no
	// response (lost, or abandoned by the client) or still pending.
	Answered time.Time `json:"answered"`
	Status   int       `json:"status"`
}

// Write reports whether the call changes the organization's keys (a
// create or a delete), whatever its answer.
func (r Request) Write() bool { return r.Op == OpCreateAPIKey || r.Op == OpDeleteAPIKey }

// requestLog is the bounded log; guarded by Sim.mu.
type requestLog struct {
	entries []*Request // oldest first
	next    int        // the next Seq
	dropped int
}

// logRequest records a call's arrival and returns its entry, to be
// completed by answered.
func (s *Sim) logRequest(op string, r *http.Request) *Request {
	e := &Request{
		Op:        op,
		Method:    r.Method,
		Path:      r.URL.Path,
		Key:       credentialKey(r.Header.Get("Authorization")),
		UserAgent: r.UserAgent(),
		Proto:     r.Proto,
		TLS:       r.TLS != nil,
		Remote:    r.RemoteAddr,
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l := &s.requests
	l.next++
	e.Seq = l.next
	e.Received = s.clock()
	if len(l.entries) >= MaxRequests {
		n := len(l.entries) - MaxRequests + 1
		clear(l.entries[:n])
		l.entries = l.entries[n:]
		l.dropped += n
	}
	l.entries = append(l.entries, e)
	return e
}

// answered completes a logged call with its status (0: no response).
func (s *Sim) answered(e *Request, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e.Answered = s.clock()
	e.Status = status
}

// credentialKey returns the key of an EXO2-HMAC-SHA256 Authorization
// header, or "".
func credentialKey(auth string) string {
	rest, ok := strings.CutPrefix(auth, AuthScheme+" credential=")
	if !ok {
		return ""
	}
	key, _, _ := strings.Cut(rest, ",")
	return key
}

// RequestFilter selects entries of the request log; its zero value
// selects every entry.
type RequestFilter struct {
	// Ops keeps the calls of these operations only.
	Ops []string
	// Writes keeps creates and deletes only.
	Writes bool
	// After keeps the calls whose Seq is greater.
	After int
	// UserAgent keeps the calls whose User-Agent contains it.
	UserAgent string
}

func (f RequestFilter) keep(r *Request) bool {
	if r.Seq <= f.After || (f.Writes && !r.Write()) {
		return false
	}
	if f.UserAgent != "" && !strings.Contains(r.UserAgent, f.UserAgent) {
		return false
	}
	if len(f.Ops) == 0 {
		return true
	}
	for _, op := range f.Ops {
		if r.Op == op {
			return true
		}
	}
	return false
}

// RequestLog is what GET /_sim/requests answers.
type RequestLog struct {
	Requests []Request `json:"requests"`
	// Dropped is how many of the oldest calls the log no longer holds
	// (beyond MaxRequests).
	Dropped int `json:"dropped"`
}

// Requests returns the API calls received so far that f selects, in
// arrival order (the newest MaxRequests at most), pending ones included.
// Calls of every organization are logged, authenticated or not; requests
// to an unknown path are not.
func (s *Sim) Requests(f RequestFilter) RequestLog {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := RequestLog{Requests: []Request{}, Dropped: s.requests.dropped}
	for _, e := range s.requests.entries {
		if f.keep(e) {
			out.Requests = append(out.Requests, *e)
		}
	}
	return out
}

// ClearRequests empties the request log; Seq goes on from where it was.
func (s *Sim) ClearRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.requests.entries)
	s.requests.entries = nil
	s.requests.dropped = 0
}

// requestFilter reads GET /_sim/requests' query: op (repeatable or
// comma-separated), writes=1, after=SEQ, user_agent=SUBSTRING.
func requestFilter(r *http.Request) (RequestFilter, error) {
	q := r.URL.Query()
	var f RequestFilter
	for name := range q {
		switch name {
		case "op", "writes", "after", "user_agent":
		default:
			return f, fmt.Errorf("unknown parameter %q (known: op, writes, after, user_agent)", name)
		}
	}
	known := map[string]bool{}
	for _, op := range Operations() {
		known[op] = true
	}
	for _, v := range q["op"] {
		for _, op := range strings.Split(v, ",") {
			if !known[op] {
				return f, fmt.Errorf("op: %w %q", ErrUnknownOperation, op)
			}
			f.Ops = append(f.Ops, op)
		}
	}
	switch q.Get("writes") {
	case "", "0", "false":
	case "1", "true":
		f.Writes = true
	default:
		return f, fmt.Errorf("writes: want 1 or 0, got %q", q.Get("writes"))
	}
	if v := q.Get("after"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return f, fmt.Errorf("after: want a sequence number, got %q", v)
		}
		f.After = n
	}
	f.UserAgent = q.Get("user_agent")
	return f, nil
}
