package exosim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"slices"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"
)

// Operation ids, the same as the SDK's (and the OpenAPI document's).
const (
	OpListAPIKeys  = "list-api-keys"
	OpCreateAPIKey = "create-api-key"
	OpGetAPIKey    = "get-api-key"
	OpDeleteAPIKey = "delete-api-key"
	OpGetOperation = "get-operation"
	OpListIAMRoles = "list-iam-roles"
	OpGetIAMRole   = "get-iam-role"
	OpListZones    = "list-zones"
)

// Operations returns every operation id the simulator serves.
func Operations() []string {
	return []string{OpListAPIKeys, OpCreateAPIKey, OpGetAPIKey, OpDeleteAPIKey, OpGetOperation, OpListIAMRoles, OpGetIAMRole, OpListZones}
}

// Errors wrapped by fault validation.
var (
	ErrUnknownOperation = errors.New("unknown operation")
	ErrInvalidFault     = errors.New("invalid fault")
)

// Fault is what to inject into the calls of one operation. A call first
// waits Latency; once it is authenticated, the 429 and 5xx faults are drawn
// (the Next counters before the rates); then the operation runs; then the
// response may be lost.
type Fault struct {
	// Latency is added before answering.
	Latency time.Duration `json:"latency" yaml:"latency"`
	// ErrorRate is the share of calls answered ErrorStatus.
	ErrorRate float64 `json:"error_rate" yaml:"error_rate"`
	// ErrorNext makes the next N calls answer ErrorStatus.
	ErrorNext int `json:"error_next" yaml:"error_next"`
	// ErrorStatus is the 5xx status of injected errors, 500 when zero.
	ErrorStatus int `json:"error_status" yaml:"error_status"`
	// RateLimitRate is the share of calls answered 429 with Retry-After.
	RateLimitRate float64 `json:"rate_limit_rate" yaml:"rate_limit_rate"`
	// RateLimitNext makes the next N calls answer 429.
	RateLimitNext int `json:"rate_limit_next" yaml:"rate_limit_next"`
	// RetryAfter is the Retry-After of a 429 in seconds, 1 when zero. It is
	// also sent with an injected 503 when set.
	RetryAfter int `json:"retry_after" yaml:"retry_after"`
	// LoseResponseRate is the share of calls whose operation takes effect
	// but whose connection is then closed without any response.
	LoseResponseRate float64 `json:"lose_response_rate" yaml:"lose_response_rate"`
	// LoseResponseNext loses the responses of the next N calls.
	LoseResponseNext int `json:"lose_response_next" yaml:"lose_response_next"`
	// PendingPolls (delete-api-key only) makes each delete operation answer
	// "pending" to that many GET /operation polls before "success"; the key
	// stays alive until then.
	PendingPolls int `json:"pending_polls" yaml:"pending_polls"`
}

// faultJSON is Fault as JSON: the latency is a Go duration string.
type faultJSON struct {
	Latency          string  `json:"latency,omitempty"`
	ErrorRate        float64 `json:"error_rate,omitempty"`
	ErrorNext        int     `json:"error_next,omitempty"`
	ErrorStatus      int     `json:"error_status,omitempty"`
	RateLimitRate    float64 `json:"rate_limit_rate,omitempty"`
	RateLimitNext    int     `json:"rate_limit_next,omitempty"`
	RetryAfter       int     `json:"retry_after,omitempty"`
	LoseResponseRate float64 `json:"lose_response_rate,omitempty"`
	LoseResponseNext int     `json:"lose_response_next,omitempty"`
	PendingPolls     int     `json:"pending_polls,omitempty"`
}

// MarshalJSON writes the latency as a duration string such as "50ms".
func (f Fault) MarshalJSON() ([]byte, error) {
	j := faultJSON{
		ErrorRate: f.ErrorRate, ErrorNext: f.ErrorNext, ErrorStatus: f.ErrorStatus,
		RateLimitRate: f.RateLimitRate, RateLimitNext: f.RateLimitNext, RetryAfter: f.RetryAfter,
		LoseResponseRate: f.LoseResponseRate, LoseResponseNext: f.LoseResponseNext, PendingPolls: f.PendingPolls,
	}
	if f.Latency != 0 {
		j.Latency = f.Latency.String()
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads a fault strictly: unknown fields are errors, and the
// latency must be a duration string.
func (f *Fault) UnmarshalJSON(data []byte) error {
	var j faultJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return err
	}
	var lat time.Duration
	if j.Latency != "" {
		d, err := time.ParseDuration(j.Latency)
		if err != nil {
			return fmt.Errorf("latency: %w", err)
		}
		lat = d
	}
	*f = Fault{
		Latency: lat, ErrorRate: j.ErrorRate, ErrorNext: j.ErrorNext, ErrorStatus: j.ErrorStatus,
		RateLimitRate: j.RateLimitRate, RateLimitNext: j.RateLimitNext, RetryAfter: j.RetryAfter,
		LoseResponseRate: j.LoseResponseRate, LoseResponseNext: j.LoseResponseNext, PendingPolls: j.PendingPolls,
	}
	return nil
}

// Validate checks the ranges of every field.
func (f Fault) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidFault}, args...)...)
	}
	for name, rate := range map[string]float64{"error_rate": f.ErrorRate, "rate_limit_rate": f.RateLimitRate, "lose_response_rate": f.LoseResponseRate} {
		if math.IsNaN(rate) || rate < 0 || rate > 1 {
			return bad("%s %v is not between 0 and 1", name, rate)
		}
	}
	for name, n := range map[string]int{"error_next": f.ErrorNext, "rate_limit_next": f.RateLimitNext, "lose_response_next": f.LoseResponseNext, "pending_polls": f.PendingPolls, "retry_after": f.RetryAfter} {
		if n < 0 {
			return bad("%s %d is negative", name, n)
		}
	}
	if f.Latency < 0 {
		return bad("latency %s is negative", f.Latency)
	}
	if f.ErrorStatus != 0 && (f.ErrorStatus < 500 || f.ErrorStatus > 599) {
		return bad("error_status %d is not a 5xx status", f.ErrorStatus)
	}
	return nil
}

func validateFaults(faults map[string]Fault) error {
	for op, f := range faults {
		if !slices.Contains(Operations(), op) {
			return fmt.Errorf("%w %q", ErrUnknownOperation, op)
		}
		if err := f.Validate(); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
	}
	return nil
}

// LoadFaults reads a map from operation id to Fault from a YAML or JSON file
// (JSON is read as YAML), strictly. Every error names the file.
func LoadFaults(path string) (map[string]Fault, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load faults: %w", err)
	}
	faults := map[string]Fault{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&faults); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("load faults %s: %w", path, err)
	}
	if err := validateFaults(faults); err != nil {
		return nil, fmt.Errorf("load faults %s: %w", path, err)
	}
	return faults, nil
}

// SetFault replaces the fault of one operation; a Fault that injects nothing
// (the zero Fault, for one) removes it.
// It panics on an unknown operation or an invalid fault: both are mistakes
// in the calling test, like a bad regexp given to regexp.MustCompile.
func (s *Sim) SetFault(op string, f Fault) {
	if err := validateFaults(map[string]Fault{op: f}); err != nil {
		panic("exosim: SetFault: " + err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.putFault(op, f)
}

// SetFaults replaces every fault at once, after validating them all.
func (s *Sim) SetFaults(faults map[string]Fault) error {
	if err := validateFaults(faults); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = map[string]Fault{}
	for op, f := range faults {
		s.putFault(op, f)
	}
	return nil
}

// Faults returns the faults in force, with the Next counters as they stand.
func (s *Sim) Faults() map[string]Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]Fault, len(s.faults))
	for op, f := range s.faults {
		out[op] = f
	}
	return out
}

// ClearFaults removes every fault.
func (s *Sim) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = map[string]Fault{}
}

// putFault stores f, dropping a fault with nothing left to inject (its Next
// counters spent, no rate, latency or pending polls) so that Faults shows
// only live ones. The caller holds s.mu.
func (s *Sim) putFault(op string, f Fault) {
	if !f.active() {
		delete(s.faults, op)
		return
	}
	s.faults[op] = f
}

// active reports whether f still injects anything: ErrorStatus and
// RetryAfter only shape what the other fields inject.
func (f Fault) active() bool {
	return f.Latency != 0 || f.ErrorRate != 0 || f.ErrorNext != 0 || f.RateLimitRate != 0 || f.RateLimitNext != 0 ||
		f.LoseResponseRate != 0 || f.LoseResponseNext != 0 || f.PendingPolls != 0
}

func (s *Sim) latency(op string) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults[op].Latency
}

// drawFailure decides whether an authenticated call of op is answered by an
// injected 429 or 5xx instead of running. The Next counters come first so
// that tests can script exact sequences; random draws happen only for a
// non-zero rate, so a fault on one operation does not shift the draws of
// another in a single-threaded test.
func (s *Sim) drawFailure(op string) (reply, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.faults[op]
	if !ok {
		return reply{}, false
	}
	var r reply
	hit := true
	switch {
	case f.RateLimitNext > 0:
		f.RateLimitNext--
		r = rateLimited(f)
	case f.ErrorNext > 0:
		f.ErrorNext--
		r = serverError(f)
	case f.RateLimitRate > 0 && s.rng.Float64() < f.RateLimitRate:
		r = rateLimited(f)
	case f.ErrorRate > 0 && s.rng.Float64() < f.ErrorRate:
		r = serverError(f)
	default:
		hit = false
	}
	s.putFault(op, f)
	return r, hit
}

// drawLoss decides whether the response of a call that ran is dropped.
func (s *Sim) drawLoss(op string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.faults[op]
	if !ok {
		return false
	}
	switch {
	case f.LoseResponseNext > 0:
		f.LoseResponseNext--
		s.putFault(op, f)
		return true
	case f.LoseResponseRate > 0:
		return s.rng.Float64() < f.LoseResponseRate
	}
	return false
}

func (s *Sim) pendingPolls() int {
	// The caller holds s.mu.
	return s.faults[OpDeleteAPIKey].PendingPolls
}

func rateLimited(f Fault) reply {
	after := f.RetryAfter
	if after == 0 {
		after = 1
	}
	r := errorReply(http.StatusTooManyRequests, "Too Many Requests (injected by exosim)")
	r.header = http.Header{"Retry-After": {strconv.Itoa(after)}}
	return r
}

func serverError(f Fault) reply {
	status := f.ErrorStatus
	if status == 0 {
		status = http.StatusInternalServerError
	}
	r := errorReply(status, http.StatusText(status)+" (injected by exosim)")
	if status == http.StatusServiceUnavailable && f.RetryAfter > 0 {
		r.header = http.Header{"Retry-After": {strconv.Itoa(f.RetryAfter)}}
	}
	return r
}
