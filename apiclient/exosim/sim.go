// Package exosim owns a local simulator of the Exoscale IAM API-key surface,
// for tests and demos: the /v2 endpoints the official Go SDK (egoscale v3)
// calls to list, create, get and delete API keys, poll operations, list IAM
// roles and zones. It verifies EXO2-HMAC-SHA256 signatures like the real API,
// answers with the real JSON and error shapes, injects faults per operation
// (latency, 5xx, 429 with Retry-After, responses lost after the operation took
// effect, slow deletions, creates applied late, stale listings and GETs,
// delete operations that fail, undeletable "zombie" keys the platform removes
// later), lets a test act as someone else (create or delete keys without a
// signature) and records every key it ever issued.
//
// # Organizations
//
// Like Exoscale, the simulator serves several organizations. A seed's
// top-level roles, keys and admin describe the default one, named
// "default" (DefaultOrg); an optional organizations list adds more, each
// with a unique name and the same three fields:
//
//	roles: [{id: 7c3a1f0e-5b2d-4e8a-9f61-2d4b8c0a1e01, name: admin}]
//	keys: [{name: ci-runner, role: admin}]
//	organizations:
//	  - name: green
//	    roles: [{id: 0b6f2a8e-1c4d-4f3a-8e5b-9d7c6a5b4e01, name: admin}]
//	    keys: [{name: ci-runner, role: admin}]
//	    admin: {key: EXO000000000000000000000001, secret: green-admin}
//
// Role ids and keys are unique across organizations. Each API request acts
// in the organization of the key that signs it: it lists only that
// organization's keys and roles, a GET of another organization's key,
// role or operation answers 404 as for an unknown id, a DELETE of another
// organization's key answers 403 "API Key not in organization", a create
// with another organization's role answers 404 "IAM Role not found", and a
// created key joins the signer's organization. Admin, CreateKey and
// MaxLivePerName concern the default organization; AdminOf, CreateKeyIn,
// MaxLivePerNameIn and the control surface's org query parameter name
// another. Keys, Zombies and the control surface's key dumps cover every
// organization, each record saying its Org.
//
// It is a test tool. The control surface under /_sim/ is unauthenticated and
// reveals every secret, so Start and cmd/exosim listen on loopback by default;
// never expose the simulator on a network.
package exosim

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Sim is the simulator. It implements http.Handler and is safe for
// concurrent use. Nothing it returns aliases its state.
type Sim struct {
	clock        func() time.Time
	zoneEndpoint string

	// Set by New and never changed: read without the mutex.
	orgs   []string              // organization names, the default first
	admins map[string]Credential // per organization

	mu       sync.Mutex // guards everything below
	rng      *rand.Rand
	store    *store
	faults   map[string]Fault
	calls    map[string]*CallStats
	requests requestLog

	gate gate // Limits, under their own mutex
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
	s.store, s.admins = newStore(resolved, s.clock())
	for _, o := range resolved {
		s.orgs = append(s.orgs, o.name)
	}
	return s, nil
}

// Admin returns the seeded admin credential of the default organization.
func (s *Sim) Admin() Credential { return s.admins[DefaultOrg] }

// AdminOf returns the seeded admin credential of the organization org.
func (s *Sim) AdminOf(org string) (Credential, error) {
	c, ok := s.admins[org]
	if !ok {
		return Credential{}, fmt.Errorf("%w %q", ErrNoSuchOrg, org)
	}
	return c, nil
}

// Organizations returns the names of the organizations, DefaultOrg first,
// then in seed order.
func (s *Sim) Organizations() []string { return append([]string(nil), s.orgs...) }

// hasOrg reports whether org names an organization.
func (s *Sim) hasOrg(org string) bool {
	_, ok := s.admins[org]
	return ok
}

// Keys returns every key ever known, of every organization (see
// KeyRecord.Org), alive and deleted, in creation order.
func (s *Sim) Keys() []KeyRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock()
	s.store.sweep(now)
	out := make([]KeyRecord, 0, len(s.store.keys))
	for _, k := range s.store.keys {
		out = append(out, k.export(now))
	}
	return out
}

// Zombies returns the keys of every organization that are zombies now:
// listed, but answering 403 to DELETE until the platform removes them.
func (s *Sim) Zombies() []KeyRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock()
	s.store.sweep(now)
	out := []KeyRecord{}
	for _, k := range s.store.keys {
		if k.zombie() {
			out = append(out, k.export(now))
		}
	}
	return out
}

// Errors of the external-actor methods.
var (
	ErrNoSuchKey  = errors.New("no such key")
	ErrNoSuchRole = errors.New("no such role")
	ErrNoSuchOrg  = errors.New("no such organization")
)

// CreateKey creates a key in the default organization as someone else would
// (another operator, a script): no signature, no fault, applied at once.
// role is a role id or name. The record, secret included, is marked
// External.
func (s *Sim) CreateKey(name, role string) (KeyRecord, error) {
	return s.CreateKeyIn(DefaultOrg, name, role)
}

// CreateKeyIn is CreateKey in the organization org; role must be one of
// org's.
func (s *Sim) CreateKeyIn(org, name, role string) (KeyRecord, error) {
	if !s.hasOrg(org) {
		return KeyRecord{}, fmt.Errorf("%w %q", ErrNoSuchOrg, org)
	}
	if err := checkName(name); err != nil {
		return KeyRecord{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.store.role(org, role)
	if !ok {
		for _, x := range s.store.roles[org] {
			if x.Name == role {
				r, ok = x, true
			}
		}
	}
	if !ok {
		return KeyRecord{}, fmt.Errorf("%w %q", ErrNoSuchRole, role)
	}
	now := s.clock()
	k := s.store.add(org, "", name, r.ID, "", now)
	k.external = true
	return k.export(now), nil
}

// DeleteKey deletes a key as someone else would, whatever its state (not
// applied yet, zombie, deletion pending). It fails only for a key that is
// unknown or already deleted.
func (s *Sim) DeleteKey(key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock()
	s.store.sweep(now)
	k := s.store.byKey[key]
	if k == nil || !k.alive() {
		return fmt.Errorf("%w %q", ErrNoSuchKey, key)
	}
	s.store.remove(k, now, DeletedByExternal)
	return nil
}

// Zombify makes an alive key a zombie for d (DefaultZombieFor when zero), as
// when its role is deleted: listed, 403 to DELETE, unable to sign, removed
// by the platform d later.
func (s *Sim) Zombify(key string, d time.Duration) error {
	if d <= 0 {
		d = DefaultZombieFor
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock()
	s.store.sweep(now)
	k := s.store.byKey[key]
	if k == nil || !k.alive() {
		return fmt.Errorf("%w %q", ErrNoSuchKey, key)
	}
	s.store.makeZombie(k, now, d)
	return nil
}

// MaxLivePerName returns, per key name of the default organization, the
// highest number of keys with that name that were alive at the same time.
func (s *Sim) MaxLivePerName() map[string]int {
	out, _ := s.MaxLivePerNameIn(DefaultOrg)
	return out
}

// MaxLivePerNameIn is MaxLivePerName for the organization org: keys of the
// same name in two organizations are counted apart.
func (s *Sim) MaxLivePerNameIn(org string) (map[string]int, error) {
	if !s.hasOrg(org) {
		return nil, fmt.Errorf("%w %q", ErrNoSuchOrg, org)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for on, n := range s.store.maxLive {
		if on.org == org {
			out[on.name] = n
		}
	}
	return out, nil
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
//
// A wait ends late: the thread woken at its deadline runs some time after
// it (0.2 to 0.3 ms on the machines the bench ran on), and a Go timer's
// last stretch is a whole millisecond of epoll_wait's timeout. As latency
// the simulator adds, that is what the real API would not add and the
// bench would count against rotatord. So a wait asks to be woken early
// by how late recent wake-ups were (wakeLead), and yields for what is
// left. Where the kernel offers a timer file (Linux), the wake-up is a
// read of one through the runtime's network poller, which holds no thread
// and wakes at the kernel timer; elsewhere it is a Go timer set
// sleepSpin short of the deadline.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	deadline := time.Now().Add(d)
	if early := d - wakeLead.get(); early > 0 {
		asked := time.Now().Add(early)
		ok, err := sleepTimerFD(ctx, early)
		if err != nil {
			return sleepSpinning(ctx, deadline)
		}
		if !ok {
			return false
		}
		wakeLead.learn(time.Since(asked))
	}
	for time.Now().Before(deadline) {
		if ctx.Err() != nil {
			return false
		}
		runtime.Gosched()
	}
	return ctx.Err() == nil
}

// wakeLead is how much before its deadline a wait asks to be woken: a
// margin over the mean lateness of recent wake-ups (weighted 1/8 each),
// at most maxWakeLead, so that the wait rarely ends after its deadline
// and rarely yields long before it.
var wakeLead lead

const (
	wakeMargin  = 50 * time.Microsecond
	maxWakeLead = 2 * time.Millisecond
)

type lead struct{ mean atomic.Int64 } // nanoseconds

func (l *lead) get() time.Duration {
	return min(time.Duration(l.mean.Load())+wakeMargin, maxWakeLead)
}

// learn takes in how late a wake-up came after the time asked.
func (l *lead) learn(late time.Duration) {
	late = min(max(late, 0), maxWakeLead)
	for {
		old := l.mean.Load()
		next := old + (int64(late)-old)/8
		if l.mean.CompareAndSwap(old, next) {
			return
		}
	}
}

// sleepSpinning waits until deadline with a Go timer set short of it and
// yields for the rest.
func sleepSpinning(ctx context.Context, deadline time.Time) bool {
	if d := time.Until(deadline); d > sleepSpin {
		t := time.NewTimer(d - sleepSpin)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return false
		}
	}
	for time.Now().Before(deadline) {
		if ctx.Err() != nil {
			return false
		}
		runtime.Gosched()
	}
	return ctx.Err() == nil
}

// sleepSpin is how much of a sleep sleepSpinning waits by yielding rather
// than by a timer.
const sleepSpin = 400 * time.Microsecond
