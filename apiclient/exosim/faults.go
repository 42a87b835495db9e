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
// (the Next counters before the rates); then the operation runs (a create
// may still answer 429 then: AppliedRateLimitNext); then the response may
// be lost.
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

	// LateApply (create-api-key only) delays when a create takes effect:
	// the answer, unless lost, carries the key and its secret at once, but
	// the key is missing from listings, answers 404 to GET and 403 "API Key
	// not in organization" to DELETE, and cannot sign until LateApply has
	// passed. Which creates: the next LateApplyNext, then a LateApplyRate
	// share; with neither, every create (once a LateApplyNext without a
	// rate is spent, the fault ends).
	LateApply     time.Duration `json:"late_apply" yaml:"late_apply"`
	LateApplyRate float64       `json:"late_apply_rate" yaml:"late_apply_rate"`
	LateApplyNext int           `json:"late_apply_next" yaml:"late_apply_next"`

	// StaleFor (list-api-keys and get-api-key only) makes a call answer as
	// the organization was StaleFor ago: a key created since is missing
	// from the listing (404 on GET), a key deleted since is still there.
	// Which calls: the next StaleNext, then a StaleRate share; with
	// neither, every call (once a StaleNext without a rate is spent, the
	// fault ends).
	StaleFor  time.Duration `json:"stale_for" yaml:"stale_for"`
	StaleRate float64       `json:"stale_rate" yaml:"stale_rate"`
	StaleNext int           `json:"stale_next" yaml:"stale_next"`

	// FailRate and FailNext (delete-api-key only) make a delete operation
	// end in state "failure" with FailReason ("unavailable" when empty),
	// at once or after its PendingPolls; the key stays.
	FailRate   float64 `json:"fail_rate" yaml:"fail_rate"`
	FailNext   int     `json:"fail_next" yaml:"fail_next"`
	FailReason string  `json:"fail_reason" yaml:"fail_reason"`

	// ZombieRate and ZombieNext (delete-api-key only) make the key a DELETE
	// targets a zombie, as a key whose role was deleted: that DELETE and
	// every later one answer 403 "API Key not in organization", yet the key
	// stays listed and gettable (it cannot sign) until the platform removes
	// it by itself ZombieFor later (30s when zero).
	ZombieRate float64       `json:"zombie_rate" yaml:"zombie_rate"`
	ZombieNext int           `json:"zombie_next" yaml:"zombie_next"`
	ZombieFor  time.Duration `json:"zombie_for" yaml:"zombie_for"`

	// AppliedRateLimitNext and AppliedRateLimitRate (create-api-key only)
	// make a create lie with a 429: the key is made (listed, deletable,
	// and it signs, as any created key), then the answer is a 429 with
	// Retry-After (RetryAfter) and the documented JSON error body, not
	// the key and its secret. A server or a proxy that rate-limits after
	// the API acted does that: the secret of that key reaches nobody.
	// Which creates: the next AppliedRateLimitNext, then an
	// AppliedRateLimitRate share.
	AppliedRateLimitNext int     `json:"applied_rate_limit_next" yaml:"applied_rate_limit_next"`
	AppliedRateLimitRate float64 `json:"applied_rate_limit_rate" yaml:"applied_rate_limit_rate"`
}

// DefaultZombieFor is how long a zombie stays listed when ZombieFor is zero.
const DefaultZombieFor = 30 * time.Second

// Operation failure reasons, as the API documents them.
var failReasons = []string{"incorrect", "unknown", "unavailable", "forbidden", "busy", "fault", "partial", "not-found", "interrupted", "unsupported", "conflict"}

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
	LateApply        string  `json:"late_apply,omitempty"`
	LateApplyRate    float64 `json:"late_apply_rate,omitempty"`
	LateApplyNext    int     `json:"late_apply_next,omitempty"`
	StaleFor         string  `json:"stale_for,omitempty"`
	StaleRate        float64 `json:"stale_rate,omitempty"`
	StaleNext        int     `json:"stale_next,omitempty"`
	FailRate         float64 `json:"fail_rate,omitempty"`
	FailNext         int     `json:"fail_next,omitempty"`
	FailReason       string  `json:"fail_reason,omitempty"`
	ZombieRate       float64 `json:"zombie_rate,omitempty"`
	ZombieNext       int     `json:"zombie_next,omitempty"`
	ZombieFor        string  `json:"zombie_for,omitempty"`

	AppliedRateLimitNext int     `json:"applied_rate_limit_next,omitempty"`
	AppliedRateLimitRate float64 `json:"applied_rate_limit_rate,omitempty"`
}

func durationString(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

func parseDuration(field, s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", field, err)
	}
	return d, nil
}

// MarshalJSON writes the latency as a duration string such as "50ms".
func (f Fault) MarshalJSON() ([]byte, error) {
	j := faultJSON{
		ErrorRate: f.ErrorRate, ErrorNext: f.ErrorNext, ErrorStatus: f.ErrorStatus,
		RateLimitRate: f.RateLimitRate, RateLimitNext: f.RateLimitNext, RetryAfter: f.RetryAfter,
		LoseResponseRate: f.LoseResponseRate, LoseResponseNext: f.LoseResponseNext, PendingPolls: f.PendingPolls,
		Latency: durationString(f.Latency), LateApply: durationString(f.LateApply), LateApplyRate: f.LateApplyRate,
		LateApplyNext: f.LateApplyNext, StaleFor: durationString(f.StaleFor), StaleRate: f.StaleRate, StaleNext: f.StaleNext,
		FailRate: f.FailRate, FailNext: f.FailNext, FailReason: f.FailReason,
		ZombieRate: f.ZombieRate, ZombieNext: f.ZombieNext, ZombieFor: durationString(f.ZombieFor),
		AppliedRateLimitNext: f.AppliedRateLimitNext, AppliedRateLimitRate: f.AppliedRateLimitRate,
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
	var durs [4]time.Duration
	for i, d := range []struct{ field, value string }{
		{"latency", j.Latency}, {"late_apply", j.LateApply}, {"stale_for", j.StaleFor}, {"zombie_for", j.ZombieFor},
	} {
		v, err := parseDuration(d.field, d.value)
		if err != nil {
			return err
		}
		durs[i] = v
	}
	*f = Fault{
		Latency: durs[0], ErrorRate: j.ErrorRate, ErrorNext: j.ErrorNext, ErrorStatus: j.ErrorStatus,
		RateLimitRate: j.RateLimitRate, RateLimitNext: j.RateLimitNext, RetryAfter: j.RetryAfter,
		LoseResponseRate: j.LoseResponseRate, LoseResponseNext: j.LoseResponseNext, PendingPolls: j.PendingPolls,
		LateApply: durs[1], LateApplyRate: j.LateApplyRate, LateApplyNext: j.LateApplyNext,
		StaleFor: durs[2], StaleRate: j.StaleRate, StaleNext: j.StaleNext,
		FailRate: j.FailRate, FailNext: j.FailNext, FailReason: j.FailReason,
		ZombieRate: j.ZombieRate, ZombieNext: j.ZombieNext, ZombieFor: durs[3],
		AppliedRateLimitNext: j.AppliedRateLimitNext, AppliedRateLimitRate: j.AppliedRateLimitRate,
	}
	return nil
}

// Validate checks the ranges of every field.
func (f Fault) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidFault}, args...)...)
	}
	for name, rate := range map[string]float64{
		"error_rate": f.ErrorRate, "rate_limit_rate": f.RateLimitRate, "lose_response_rate": f.LoseResponseRate,
		"late_apply_rate": f.LateApplyRate, "stale_rate": f.StaleRate, "fail_rate": f.FailRate, "zombie_rate": f.ZombieRate,
		"applied_rate_limit_rate": f.AppliedRateLimitRate,
	} {
		if math.IsNaN(rate) || rate < 0 || rate > 1 {
			return bad("%s %v is not between 0 and 1", name, rate)
		}
	}
	for name, n := range map[string]int{
		"error_next": f.ErrorNext, "rate_limit_next": f.RateLimitNext, "lose_response_next": f.LoseResponseNext,
		"pending_polls": f.PendingPolls, "retry_after": f.RetryAfter,
		"late_apply_next": f.LateApplyNext, "stale_next": f.StaleNext, "fail_next": f.FailNext, "zombie_next": f.ZombieNext,
		"applied_rate_limit_next": f.AppliedRateLimitNext,
	} {
		if n < 0 {
			return bad("%s %d is negative", name, n)
		}
	}
	for name, d := range map[string]time.Duration{"latency": f.Latency, "late_apply": f.LateApply, "stale_for": f.StaleFor, "zombie_for": f.ZombieFor} {
		if d < 0 {
			return bad("%s %s is negative", name, d)
		}
	}
	if (f.LateApplyRate != 0 || f.LateApplyNext != 0) && f.LateApply == 0 {
		return bad("late_apply_rate and late_apply_next need a late_apply delay")
	}
	if (f.StaleRate != 0 || f.StaleNext != 0) && f.StaleFor == 0 {
		return bad("stale_rate and stale_next need a stale_for delay")
	}
	if f.FailReason != "" && !slices.Contains(failReasons, f.FailReason) {
		return bad("fail_reason %q is not one of %v", f.FailReason, failReasons)
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
		if err := f.validateFor(op); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
	}
	return nil
}

// validateFor refuses the fields that only mean something for another
// operation: a stale delete or a late listing would silently do nothing.
func (f Fault) validateFor(op string) error {
	only := func(field string, set bool, ops ...string) error {
		if set && !slices.Contains(ops, op) {
			return fmt.Errorf("%w: %s applies only to %v", ErrInvalidFault, field, ops)
		}
		return nil
	}
	return errors.Join(
		only("pending_polls", f.PendingPolls != 0, OpDeleteAPIKey),
		only("late_apply", f.LateApply != 0 || f.LateApplyRate != 0 || f.LateApplyNext != 0, OpCreateAPIKey),
		only("stale_for", f.StaleFor != 0 || f.StaleRate != 0 || f.StaleNext != 0, OpListAPIKeys, OpGetAPIKey),
		only("fail_rate/fail_next/fail_reason", f.FailRate != 0 || f.FailNext != 0 || f.FailReason != "", OpDeleteAPIKey),
		only("zombie_rate/zombie_next/zombie_for", f.ZombieRate != 0 || f.ZombieNext != 0 || f.ZombieFor != 0, OpDeleteAPIKey),
		only("applied_rate_limit_next/applied_rate_limit_rate", f.AppliedRateLimitNext != 0 || f.AppliedRateLimitRate != 0, OpCreateAPIKey),
	)
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
		f.LoseResponseRate != 0 || f.LoseResponseNext != 0 || f.PendingPolls != 0 ||
		f.LateApply != 0 || f.StaleFor != 0 || f.FailRate != 0 || f.FailNext != 0 || f.ZombieRate != 0 || f.ZombieNext != 0 ||
		f.AppliedRateLimitNext != 0 || f.AppliedRateLimitRate != 0
}

// drawShare decides whether one call gets a fault that is chosen by a Next
// counter, then a rate; with every is true when neither is set, the fault
// applies to every call. The caller holds s.mu and stores f back.
func (s *Sim) drawShare(next *int, rate float64, every bool) bool {
	switch {
	case *next > 0:
		*next--
		return true
	case rate > 0:
		return s.rng.Float64() < rate
	}
	return every
}

// drawCounted draws a fault whose calls are chosen by a Next counter, then
// a rate, or, with neither, every call; delay is what the fault applies.
// Once the counter is spent and there is no rate, the delay is cleared so
// that the fault stops rather than turning into "every call". The caller
// holds s.mu and stores f back.
func (s *Sim) drawCounted(next *int, rate float64, delay *time.Duration) time.Duration {
	d := *delay
	counted := *next > 0
	hit := s.drawShare(next, rate, rate == 0 && !counted)
	if counted && *next == 0 && rate == 0 {
		*delay = 0
	}
	if !hit {
		return 0
	}
	return d
}

// drawLateApply returns how late a create is applied, or 0. The caller
// holds s.mu.
func (s *Sim) drawLateApply() time.Duration {
	f, ok := s.faults[OpCreateAPIKey]
	if !ok || f.LateApply == 0 {
		return 0
	}
	d := s.drawCounted(&f.LateApplyNext, f.LateApplyRate, &f.LateApply)
	s.putFault(OpCreateAPIKey, f)
	return d
}

// drawAppliedRateLimit decides whether a create that took effect is
// answered 429 instead of with its key (the 429 it returns). The caller
// holds s.mu.
func (s *Sim) drawAppliedRateLimit() (reply, bool) {
	f, ok := s.faults[OpCreateAPIKey]
	if !ok || (f.AppliedRateLimitNext == 0 && f.AppliedRateLimitRate == 0) {
		return reply{}, false
	}
	hit := s.drawShare(&f.AppliedRateLimitNext, f.AppliedRateLimitRate, false)
	s.putFault(OpCreateAPIKey, f)
	if !hit {
		return reply{}, false
	}
	return rateLimited(f), true
}

// drawStale returns how far in the past a list or get call of op looks, or
// 0. The caller holds s.mu.
func (s *Sim) drawStale(op string) time.Duration {
	f, ok := s.faults[op]
	if !ok || f.StaleFor == 0 {
		return 0
	}
	d := s.drawCounted(&f.StaleNext, f.StaleRate, &f.StaleFor)
	s.putFault(op, f)
	return d
}

// drawDeleteOutcome decides what a DELETE of a deletable key meets: a
// zombie (the time it stays listed), or an operation that fails (its
// reason). The caller holds s.mu.
func (s *Sim) drawDeleteOutcome() (zombieFor time.Duration, failReason string) {
	f, ok := s.faults[OpDeleteAPIKey]
	if !ok {
		return 0, ""
	}
	defer func() { s.putFault(OpDeleteAPIKey, f) }()
	if s.drawShare(&f.ZombieNext, f.ZombieRate, false) {
		d := f.ZombieFor
		if d == 0 {
			d = DefaultZombieFor
		}
		return d, ""
	}
	if s.drawShare(&f.FailNext, f.FailRate, false) {
		reason := f.FailReason
		if reason == "" {
			reason = "unavailable"
		}
		return 0, reason
	}
	return 0, ""
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
