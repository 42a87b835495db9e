// Package exosim owns a local simulator of the Exoscale IAM API-key surface,
// for tests and demos: the /v2 endpoints the official Go SDK (egoscale v3)
// calls to list, create, get and delete API keys, poll operations, list IAM
// roles and zones. It verifies EXO2-HMAC-SHA256 signatures like the real API,
// answers with the real JSON and error shapes, injects faults per operation
// (latency, 5xx, 429 with Retry-After, responses lost after the operation took
// effect, slow deletions) and records every key it ever issued.
//
// It is a test tool. The control surface under /_sim/ is unauthenticated and
// reveals every secret, so Start and cmd/exosim listen on loopback by default;
// never expose the simulator on a network.
package exosim

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Sim is the simulator. It implements http.Handler and is safe for
// concurrent use. Nothing it returns aliases its state.
type Sim struct {
	clock        func() time.Time
	zoneEndpoint string

	mu     sync.Mutex // guards everything below
	rng    *rand.Rand
	store  *store
	faults map[string]Fault
	calls  map[string]*CallStats
	admin  Credential
}

// Option configures New.
type Option func(*Sim)

// WithClock sets the clock used for signature expiry and key timestamps.
func WithClock(now func() time.Time) Option { return func(s *Sim) { s.clock = now } }

// WithRand seeds the fault draws, making a single-threaded run repeatable.
func WithRand(seed int64) Option {
	return func(s *Sim) { s.rng = rand.New(rand.NewPCG(uint64(seed), 0)) }
}

// WithZoneEndpoint sets the base URL (ending in /v2) that GET /v2/zone gives
// as every zone's api-endpoint. Without it the endpoint is derived from the
// request's Host.
func WithZoneEndpoint(url string) Option {
	return func(s *Sim) { s.zoneEndpoint = strings.TrimSuffix(url, "/") }
}

// New builds a simulator seeded with seed.
func New(seed Seed, opts ...Option) (*Sim, error) {
	resolved, err := seed.resolve()
	if err != nil {
		return nil, err
	}
	var b [8]byte
	_, _ = crand.Read(b[:])
	s := &Sim{
		clock:  time.Now,
		rng:    rand.New(rand.NewPCG(binary.LittleEndian.Uint64(b[:]), 0)),
		faults: map[string]Fault{},
		calls:  map[string]*CallStats{},
	}
	for _, opt := range opts {
		opt(s)
	}
	s.store = newStore(resolved, s.clock())
	admin := s.store.keys[0] // resolve puts the admin first
	s.admin = Credential{Key: admin.key, Secret: admin.secret}
	return s, nil
}

// Admin returns the seeded admin credential.
func (s *Sim) Admin() Credential { return s.admin }

// Keys returns every key ever known, alive and deleted, in creation order.
func (s *Sim) Keys() []KeyRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]KeyRecord, 0, len(s.store.keys))
	for _, k := range s.store.keys {
		out = append(out, k.export())
	}
	return out
}

// MaxLivePerName returns, per key name, the highest number of keys with that
// name that were alive at the same time.
func (s *Sim) MaxLivePerName() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.store.maxLive))
	for name, n := range s.store.maxLive {
		out[name] = n
	}
	return out
}

// ServeHTTP serves the API under /v2/ and the control surface under /_sim/.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.HasPrefix(r.URL.Path, "/v2/"):
		s.serveAPI(w, r)
	case strings.HasPrefix(r.URL.Path, "/_sim/"):
		s.serveControl(w, r)
	default:
		writeReply(w, errorReply(http.StatusNotFound, "Not found: "+r.URL.Path))
	}
}

// sleep waits d or until the request is abandoned, and reports which.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
