package rotation

// A write a previous process sent (a leader SIGKILLed, or frozen until
// another replica took the Lease) may still be on its way when the next
// leader recovers the rotation: held by a slow admission webhook, queued
// by the API server's priority and fairness, or by a proxy. The new leader
// reads the sink, finds the old key, and rolls the new key back; if the
// write lands after that, the sink holds a deleted key and its consumers
// lose their credential until the next rotation. A sink whose writes are
// conditional on the version they read (a Kubernetes Secret) can be
// fenced first, so that such a write fails when it lands.

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rotatord/rotatord/sinks"
	"github.com/rotatord/rotatord/state"
)

// versionedSink is a memSink whose writes are conditional on the version
// they read, as a Secret's resourceVersion: a write sent earlier lands
// only if nothing changed the sink since it was prepared.
type versionedSink struct {
	*memSink
	mu      sync.Mutex
	version int
	pending *sinks.Credential // a write on its way, prepared at pendingAt
	at      int
	fenced  int
}

var _ sinks.Fencer = (*versionedSink)(nil)

func (s *versionedSink) Write(ctx context.Context, c sinks.Credential) error {
	s.mu.Lock()
	s.version++
	s.mu.Unlock()
	return s.memSink.Write(ctx, c)
}

// Fence implements sinks.Fencer.
func (s *versionedSink) Fence(ctx context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.version++
	s.fenced++
	return nil
}

// send notes c as a write sent now against the version held, not landed.
func (s *versionedSink) send(c sinks.Credential) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending, s.at = &c, s.version
}

// land applies the write on its way if the sink did not change since it
// was sent; it reports whether it did.
func (s *versionedSink) land() bool {
	s.mu.Lock()
	c, at := s.pending, s.at
	s.pending = nil
	ok := c != nil && at == s.version
	if ok {
		s.version++
	}
	s.mu.Unlock()
	if ok {
		_ = s.memSink.Write(context.Background(), *c)
	}
	return ok
}

func TestRecoveryFencesAWriteOfThePreviousLeaderBeforeRollingBack(t *testing.T) {
	h := newHarness(t, 0)
	vs := &versionedSink{memSink: h.sinkA}
	h.setSinks(vs)
	h.api.add("ci-runner", roleCI)
	h.pass(Options{Force: true})
	old := h.current("ci-runner")
	if old == "" {
		t.Fatal("no first rotation")
	}

	// The previous leader: intent, create, created recorded, the Secret
	// update sent; then it died (or lost the Lease) before any answer.
	ctx := context.Background()
	rec := h.record("ci-runner")
	created, err := h.api.CreateKey(ctx, "ci-runner", roleCI)
	if err != nil {
		t.Fatal(err)
	}
	now := h.clock.Now()
	rec.Rotation = &state.Rotation{
		Phase: state.PhaseCreated, StartedAt: now, OldKeyIDs: []string{old}, KnownKeyIDs: []string{old, h.own},
		RoleID: roleCI, NewKeyID: created.ID, NewCreatedAt: now.UTC(),
	}
	if err := h.store.Put(rec); err != nil {
		t.Fatal(err)
	}
	vs.send(sinks.Credential{Name: "ci-runner", KeyID: created.ID, RoleID: roleCI, Secret: created.Secret, CreatedAt: now})

	// The next leader recovers: the sink holds the old key, so the new
	// one reached no consumer and is rolled back.
	h.newEngine()
	h.pass(Options{})
	if slices.Contains(h.api.live("ci-runner"), created.ID) {
		t.Fatalf("new key %s kept; want it rolled back (the sink holds the old key)", created.ID)
	}

	// Then the previous leader's write arrives.
	if vs.land() {
		t.Errorf("the previous leader's write of the rolled-back key %s landed after the rollback: the sink was not fenced", created.ID)
	}
	h.sinkA.mu.Lock()
	held := h.sinkA.held["ci-runner"].KeyID
	h.sinkA.mu.Unlock()
	if !slices.Contains(h.api.live("ci-runner"), held) {
		t.Errorf("OUTAGE: the sink holds key %s, which is deleted (live: %v)", held, h.api.live("ci-runner"))
	}
}

// A sink that cannot be fenced now (its API server is down) makes the
// recovery wait: the new key is kept, not rolled back behind a write that
// may still land.
func TestRecoveryKeepsTheNewKeyWhileTheSinkCannotBeFenced(t *testing.T) {
	h := newHarness(t, 0)
	vs := &failingFencer{versionedSink: &versionedSink{memSink: h.sinkA}}
	h.setSinks(vs)
	h.api.add("ci-runner", roleCI)
	h.pass(Options{Force: true})
	old := h.current("ci-runner")

	ctx := context.Background()
	rec := h.record("ci-runner")
	created, err := h.api.CreateKey(ctx, "ci-runner", roleCI)
	if err != nil {
		t.Fatal(err)
	}
	now := h.clock.Now()
	rec.Rotation = &state.Rotation{
		Phase: state.PhaseCreated, StartedAt: now, OldKeyIDs: []string{old}, KnownKeyIDs: []string{old, h.own},
		RoleID: roleCI, NewKeyID: created.ID, NewCreatedAt: now.UTC(),
	}
	if err := h.store.Put(rec); err != nil {
		t.Fatal(err)
	}
	h.newEngine()
	vs.fail = errors.New("Secret ns/exo-ci-runner: dial tcp: connection refused")
	h.pass(Options{})
	if !slices.Contains(h.api.live("ci-runner"), created.ID) {
		t.Fatalf("new key %s rolled back without the sink fenced", created.ID)
	}
	vs.fail = nil
	h.clock.Add(time.Hour) // past the failure's backoff
	h.pass(Options{})
	if slices.Contains(h.api.live("ci-runner"), created.ID) {
		t.Errorf("new key %s kept once the sink was fenced", created.ID)
	}
}

type failingFencer struct {
	*versionedSink
	fail error
}

func (s *failingFencer) Fence(ctx context.Context, name string) error {
	if s.fail != nil {
		return s.fail
	}
	return s.versionedSink.Fence(ctx, name)
}
