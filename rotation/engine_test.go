package rotation

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/state"
)

const roleCI = "22222222-2222-2222-2222-222222222222"

type harness struct {
	t      *testing.T
	api    *fakeAPI
	store  *state.Store
	dir    string
	clock  *fakeClock
	sinkA  *memSink
	sinkB  *memSink
	rec    *countingRecorder
	logs   *observer.ObservedLogs
	engine *Engine
	policy Policy
	own    string
	// wrap, when set, wraps the journal the next newEngine uses.
	wrap func(state.Journal) state.Journal
}

func newHarness(t *testing.T, grace time.Duration) *harness {
	t.Helper()
	h := &harness{t: t, api: newFakeAPI(t), dir: t.TempDir(), rec: &countingRecorder{}}
	h.clock = &fakeClock{now: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)}
	h.sinkA, h.sinkB = newMemSink("a"), newMemSink("b")
	h.api.sinks = []*memSink{h.sinkA, h.sinkB}
	h.own = h.api.add("rotatord-admin", "admin-role")
	h.openStore()
	h.policy = Policy{
		Name:        "ci",
		Match:       func(name, role string) bool { return strings.HasPrefix(name, "ci-") || name == "rotatord-admin" },
		MaxAge:      24 * time.Hour,
		GracePeriod: grace,
		Sinks:       toSinks(h.sinkA, h.sinkB),
	}
	h.newEngine()
	return h
}

func (h *harness) openStore() {
	h.t.Helper()
	if h.store != nil {
		h.store.Close()
	}
	s, err := state.Open(h.dir)
	if err != nil {
		h.t.Fatal(err)
	}
	h.store = s
	h.t.Cleanup(func() { s.Close() })
}

// newEngine is a restart: a new engine over the same state directory.
func (h *harness) newEngine() {
	core, logs := observer.New(zap.DebugLevel)
	h.logs = logs
	var j state.Journal = h.store
	if h.wrap != nil {
		j = h.wrap(h.store)
	}
	h.engine = New(Config{API: h.api, Store: j, Logger: zap.New(core), Recorder: h.rec, Now: h.clock.Now, Sleep: h.clock.Sleep, OwnKeyID: h.own})
	if err := h.engine.SetPolicies([]Policy{h.policy}); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) pass(opts Options) []Outcome {
	h.t.Helper()
	out, err := h.engine.Pass(context.Background(), nil, opts)
	if err != nil {
		h.t.Fatalf("pass: %v", err)
	}
	return out
}

func (h *harness) record(name string) state.Record {
	r, ok := h.store.Get("ci", name)
	if !ok {
		h.t.Fatalf("no record for %q", name)
	}
	return r
}

// assertNoSecretLeak searches the state directory and the logs for every
// secret the fake API issued.
func (h *harness) assertNoSecretLeak() {
	h.t.Helper()
	var blobs []string
	filepath.Walk(h.dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			b, _ := os.ReadFile(p)
			blobs = append(blobs, string(b))
		}
		return nil
	})
	for _, e := range h.logs.All() {
		blobs = append(blobs, e.Message)
		for k, v := range e.ContextMap() {
			blobs = append(blobs, k+"="+toString(v))
		}
	}
	for _, sec := range h.api.issued {
		for _, b := range blobs {
			if strings.Contains(b, sec) {
				h.t.Errorf("secret leaked into state or logs: %q", b)
			}
		}
	}
}

func toString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	if e, ok := v.(error); ok {
		return e.Error()
	}
	return ""
}

func TestFullRotationWithoutGrace(t *testing.T) {
	h := newHarness(t, 0)
	old := h.api.add("ci-runner", roleCI)
	h.policy.AdoptRotate = true
	h.engine.SetPolicies([]Policy{h.policy})

	out := h.pass(Options{})
	if len(out) != 2 { // ci-runner and rotatord-admin
		t.Fatalf("outcomes = %+v", out)
	}
	live := h.api.live("ci-runner")
	if len(live) != 1 || live[0] == old {
		t.Fatalf("live keys = %v, want one new key (old was %s)", live, old)
	}
	if got := h.sinkA.holds("ci-runner"); got != live[0] {
		t.Errorf("sink a holds %q, want %q", got, live[0])
	}
	if got := h.sinkB.holds("ci-runner"); got != live[0] {
		t.Errorf("sink b holds %q, want %q", got, live[0])
	}
	r := h.record("ci-runner")
	if r.Rotation != nil || r.CurrentKeyID != live[0] || !r.CreatedByUs || r.RoleID != roleCI {
		t.Errorf("record = %+v", r)
	}
	if h.rec.ok != 1 || h.rec.failed != 0 {
		t.Errorf("recorder ok=%d failed=%d", h.rec.ok, h.rec.failed)
	}
	if live := h.api.live("rotatord-admin"); len(live) != 1 || live[0] != h.own {
		t.Errorf("own key touched: %v", live)
	}
	if h.logs.FilterMessage("skipping key name").Len() != 1 {
		t.Error("no warning for the policy matching rotatord's own key")
	}
	h.assertNoSecretLeak()
}

// TestImmediateDeletionUsesThePassListing: with no grace period the old
// key is checked against the listing the pass just made, not looked up
// again: a rotation costs one GET (the confirmation of the new key).
func TestImmediateDeletionUsesThePassListing(t *testing.T) {
	h := newHarness(t, 0)
	old := h.api.add("ci-runner", roleCI)
	h.pass(Options{}) // adopt
	h.api.mu.Lock()
	h.api.gets = 0
	h.api.mu.Unlock()
	h.clock.now = h.clock.now.Add(48 * time.Hour)
	h.pass(Options{})
	live := h.api.live("ci-runner")
	if len(live) != 1 || live[0] == old {
		t.Fatalf("live keys = %v, want one new key (old was %s)", live, old)
	}
	h.api.mu.Lock()
	defer h.api.mu.Unlock()
	if h.api.gets != 1 {
		t.Errorf("GetKey calls = %d for one rotation, want 1 (the confirmation)", h.api.gets)
	}
}

func TestGracePeriodAndDeleteDue(t *testing.T) {
	h := newHarness(t, time.Hour)
	old := h.api.add("ci-runner", roleCI)
	h.pass(Options{Force: true})
	if live := h.api.live("ci-runner"); len(live) != 2 {
		t.Fatalf("during grace: live = %v, want old and new", live)
	}
	r := h.record("ci-runner")
	if r.Rotation == nil || r.Rotation.Phase != state.PhaseDelivered {
		t.Fatalf("rotation = %+v, want delivered", r.Rotation)
	}
	h.clock.Add(59 * time.Minute)
	if out := h.engine.DeleteDue(context.Background()); len(out) != 0 {
		t.Fatalf("DeleteDue before the grace period ended: %+v", out)
	}
	h.clock.Add(time.Minute)
	out := h.engine.DeleteDue(context.Background())
	if len(out) != 1 || out[0].Err != nil {
		t.Fatalf("DeleteDue = %+v", out)
	}
	live := h.api.live("ci-runner")
	if len(live) != 1 || live[0] == old {
		t.Fatalf("after grace: live = %v", live)
	}
	if r := h.record("ci-runner"); r.Rotation != nil {
		t.Errorf("rotation still recorded: %+v", r.Rotation)
	}
}

func TestAdoptWaitCountsAgeFromFirstSight(t *testing.T) {
	h := newHarness(t, 0)
	h.api.add("ci-runner", roleCI)
	out := h.pass(Options{})
	if d := findOutcome(out, "ci-runner").Decision; d.Action != ActionNone || d.Reason != ReasonFresh {
		t.Fatalf("first sight: %+v", d)
	}
	h.clock.Add(23 * time.Hour)
	if d := findOutcome(h.pass(Options{}), "ci-runner").Decision; d.Action != ActionNone {
		t.Fatalf("after 23h: %+v", d)
	}
	h.clock.Add(time.Hour)
	if d := findOutcome(h.pass(Options{}), "ci-runner").Decision; d.Action != ActionRotate || d.Reason != ReasonExpired {
		t.Fatalf("after 24h: %+v", d)
	}
}

func TestAllSinksFailRollsBack(t *testing.T) {
	h := newHarness(t, 0)
	old := h.api.add("ci-runner", roleCI)
	h.sinkA.failWrite = errors.New("disk full")
	h.sinkB.failWrite = errors.New("disk full")
	out := h.pass(Options{Force: true})
	if findOutcome(out, "ci-runner").Err == nil {
		t.Fatal("a pass whose sinks all failed reported no error")
	}
	if live := h.api.live("ci-runner"); len(live) != 1 || live[0] != old {
		t.Fatalf("live = %v, want only the old key %s", live, old)
	}
	r := h.record("ci-runner")
	if r.Rotation != nil || r.Failures != 1 || r.CurrentKeyID != old {
		t.Errorf("record = %+v", r)
	}
	if h.rec.orphans != 1 || h.rec.sinkFailed != 1 {
		t.Errorf("orphans=%d sinkFailed=%d (the delivery stops at the first failure)", h.rec.orphans, h.rec.sinkFailed)
	}
	h.assertNoSecretLeak()
}

func TestProbeFailureCreatesNothing(t *testing.T) {
	h := newHarness(t, 0)
	old := h.api.add("ci-runner", roleCI)
	h.sinkB.failProbe = errors.New("directory /nope does not exist")
	out := h.pass(Options{Force: true})
	if err := findOutcome(out, "ci-runner").Err; err == nil || !strings.Contains(err.Error(), "/nope") {
		t.Fatalf("err = %v, want the probe error naming the directory", err)
	}
	if live := h.api.live("ci-runner"); len(live) != 1 || live[0] != old {
		t.Fatalf("live = %v", live)
	}
	if h.api.n != 2 {
		t.Errorf("a key was created despite the failed probe")
	}
}

func TestPartialDeliveryIsResumedFromASink(t *testing.T) {
	h := newHarness(t, 0)
	old := h.api.add("ci-runner", roleCI)
	h.sinkB.failWrite = errors.New("vault sealed")
	h.pass(Options{Force: true})
	live := h.api.live("ci-runner")
	if len(live) != 2 {
		t.Fatalf("live = %v, want old and new (sink a holds the new one)", live)
	}
	newID := h.sinkA.holds("ci-runner")
	if newID == old || newID == "" {
		t.Fatalf("sink a holds %q", newID)
	}
	r := h.record("ci-runner")
	if r.Rotation == nil || r.Rotation.Phase != state.PhaseCreated || r.Rotation.NewKeyID != newID {
		t.Fatalf("rotation = %+v", r.Rotation)
	}

	// Backoff holds the retry...
	if d := findOutcome(h.pass(Options{}), "ci-runner").Decision; d.Reason != ReasonBackoff {
		t.Fatalf("retry during backoff: %+v", d)
	}
	// ...then the sink is back, after a restart.
	h.sinkB.failWrite = nil
	h.clock.Add(Backoff(1))
	h.newEngine()
	out := h.pass(Options{})
	if err := findOutcome(out, "ci-runner").Err; err != nil {
		t.Fatalf("resume: %v", err)
	}
	if got := h.sinkB.holds("ci-runner"); got != newID {
		t.Errorf("sink b holds %q, want %q", got, newID)
	}
	if live := h.api.live("ci-runner"); len(live) != 1 || live[0] != newID {
		t.Errorf("live = %v, want only %s", live, newID)
	}
	h.assertNoSecretLeak()
}

func TestAmbiguousCreateDeletesTheLostKey(t *testing.T) {
	h := newHarness(t, 0)
	old := h.api.add("ci-runner", roleCI)
	h.api.createHook = func(k apiclient.Key) error { return apiclient.ErrAmbiguousCreate }
	out := h.pass(Options{Force: true})
	if !errors.Is(findOutcome(out, "ci-runner").Err, apiclient.ErrAmbiguousCreate) {
		t.Fatalf("err = %v", findOutcome(out, "ci-runner").Err)
	}
	if live := h.api.live("ci-runner"); len(live) != 1 || live[0] != old {
		t.Fatalf("live = %v, want only the old key", live)
	}
	if h.rec.orphans != 1 {
		t.Errorf("orphans = %d, want 1", h.rec.orphans)
	}
	if r := h.record("ci-runner"); r.Rotation != nil {
		t.Errorf("rotation still recorded: %+v", r.Rotation)
	}
}

// crashAfter makes the engine stop dead right after a given step, as a
// SIGKILL would: the context is cancelled and every later API call fails.
func TestCrashAtEveryStepRecovers(t *testing.T) {
	tests := []struct {
		name  string
		crash func(h *harness)
	}{
		{"after create, before recording the key", func(h *harness) {
			h.api.createHook = func(apiclient.Key) error { return errors.New("killed") }
		}},
		{"after recording the key, during delivery", func(h *harness) {
			h.sinkA.failWrite = errors.New("killed")
			h.sinkB.failWrite = errors.New("killed")
			h.api.deleteErr = errors.New("killed")
		}},
		{"after delivery to one sink", func(h *harness) {
			h.sinkB.failWrite = errors.New("killed")
			h.api.deleteErr = errors.New("killed")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, 0)
			old := h.api.add("ci-runner", roleCI)
			tt.crash(h)
			h.pass(Options{Force: true})
			// Restart with everything healthy.
			h.api.createHook, h.api.deleteErr = nil, nil
			h.sinkA.failWrite, h.sinkB.failWrite = nil, nil
			h.openStore()
			h.newEngine()
			h.pass(Options{IgnoreBackoff: true})
			h.pass(Options{IgnoreBackoff: true, Force: true})
			live := h.api.live("ci-runner")
			if len(live) != 1 || live[0] == old {
				t.Fatalf("after recovery: live = %v (old %s)", live, old)
			}
			if a, b := h.sinkA.holds("ci-runner"), h.sinkB.holds("ci-runner"); a != live[0] || b != live[0] {
				t.Errorf("sinks hold %q and %q, want %q", a, b, live[0])
			}
			h.assertNoSecretLeak()
		})
	}
}

func TestInterruptedIntentDeletesUnknownKey(t *testing.T) {
	h := newHarness(t, 0)
	old := h.api.add("ci-runner", roleCI)
	h.pass(Options{}) // adopt
	r := h.record("ci-runner")
	// As if rotatord died right after its create reached the API.
	r.Rotation = &state.Rotation{Phase: state.PhaseIntent, StartedAt: h.clock.Now(), OldKeyIDs: []string{old}}
	if err := h.store.Put(r); err != nil {
		t.Fatal(err)
	}
	lost := h.api.add("ci-runner", roleCI)
	out := h.pass(Options{})
	if d := findOutcome(out, "ci-runner").Decision; d.Action != ActionRecover {
		t.Fatalf("decision = %+v", d)
	}
	live := h.api.live("ci-runner")
	if len(live) != 1 || live[0] != old {
		t.Fatalf("live = %v, want the old key only (lost key %s)", live, lost)
	}
}

func TestOpaqueSinkIsWrittenLast(t *testing.T) {
	h := newHarness(t, 0)
	old := h.api.add("ci-runner", roleCI)
	h.sinkA.opaque = true
	h.sinkB.failWrite = errors.New("down")
	h.pass(Options{Force: true})
	// The sink that can be read back is written first: it failed, so the
	// opaque sink was never written and the new key was rolled back.
	if got := h.sinkA.holds("ci-runner"); got != "" {
		t.Fatalf("opaque sink written before the readable one failed: holds %s", got)
	}
	if live := h.api.live("ci-runner"); len(live) != 1 || live[0] != old {
		t.Fatalf("live = %v, want the old key only", live)
	}
	h.sinkB.failWrite = nil
	h.pass(Options{IgnoreBackoff: true, Force: true})
	live := h.api.live("ci-runner")
	if len(live) != 1 || live[0] == old {
		t.Fatalf("live = %v, want one fresh key (old %s)", live, old)
	}
	h.assertSinksHoldLiveKeys("ci-runner", h.sinkA, h.sinkB)
}

func TestLostStateTrustsSinksOnly(t *testing.T) {
	h := newHarness(t, time.Hour)
	h.api.add("ci-runner", roleCI)
	h.pass(Options{Force: true})
	current := h.sinkA.holds("ci-runner")

	// The state directory is lost during the grace period.
	h.store.Close()
	h.dir = t.TempDir()
	h.store = nil
	h.openStore()
	h.newEngine()
	h.pass(Options{})
	r := h.record("ci-runner")
	if r.CurrentKeyID != current || r.Rotation == nil || r.Rotation.Phase != state.PhaseDelivered {
		t.Fatalf("record after state loss = %+v", r)
	}
	// This process confirmed the new key at the pass that adopted it
	// (its listing showed it), an hour before the grace period ends:
	// the old key goes then, min(grace, 10s) having long passed on its
	// own clock.
	h.clock.Add(time.Hour)
	h.engine.DeleteDue(context.Background())
	if live := h.api.live("ci-runner"); len(live) != 1 || live[0] != current {
		t.Fatalf("live = %v, want %s", live, current)
	}

	// Sinks that disagree: nothing is deleted, and no third key is made.
	h2 := newHarness(t, time.Hour)
	a := h2.api.add("ci-runner", roleCI)
	b := h2.api.add("ci-runner", roleCI)
	out := h2.pass(Options{Force: true})
	if d := findOutcome(out, "ci-runner").Decision; d.Reason != ReasonTwoKeys {
		t.Fatalf("decision = %+v, want %q", d, ReasonTwoKeys)
	}
	if r2 := h2.record("ci-runner"); r2.Rotation != nil {
		t.Fatalf("record = %+v: no rotation may start with two unknown keys", r2)
	}
	if live := h2.api.live("ci-runner"); len(live) != 2 {
		t.Fatalf("live = %v, want %s and %s untouched", live, a, b)
	}
}

func TestListFailureChangesNothing(t *testing.T) {
	h := newHarness(t, 0)
	h.api.add("ci-runner", roleCI)
	h.api.failList = &apiclient.Error{Op: apiclient.OpListKeys, Kind: apiclient.KindInvalidResponse}
	if _, err := h.engine.Pass(context.Background(), nil, Options{Force: true}); err == nil {
		t.Fatal("pass with an unparseable listing reported no error")
	}
	if len(h.api.deleted) != 0 || h.api.n != 2 {
		t.Errorf("keys created or deleted after a failed listing")
	}
}

func TestDryRunChangesNothing(t *testing.T) {
	h := newHarness(t, 0)
	h.api.add("ci-runner", roleCI)
	out := h.pass(Options{DryRun: true, Force: true})
	if d := findOutcome(out, "ci-runner").Decision; d.Action != ActionRotate {
		t.Fatalf("plan = %+v", d)
	}
	if len(h.store.List("")) != 0 || h.api.n != 2 {
		t.Error("a dry run changed state or keys")
	}
}

func TestRecordForgottenWhenKeysGone(t *testing.T) {
	h := newHarness(t, 0)
	id := h.api.add("ci-runner", roleCI)
	h.pass(Options{})
	h.api.DeleteKey(context.Background(), id)
	h.pass(Options{})
	if r, ok := h.store.Get("ci", "ci-runner"); !ok || !r.NoKeysSince.Equal(h.clock.Now()) {
		t.Fatalf("after one listing without the name's keys: record %v (kept: %v), want it kept, noting since when", r, ok)
	}
	h.clock.Add(3 * time.Minute) // past the settle time
	h.pass(Options{})
	if _, ok := h.store.Get("ci", "ci-runner"); ok {
		t.Error("record kept for a name with no key left for the settle time")
	}
}

// One listing that omits every key of a name (it lags, or lies) does not
// forget the record: the key's age, the keys deleted but still listed,
// the deliveries stay (found by review: the record was deleted at once).
func TestOneListingWithoutTheNamesKeysForgetsNothing(t *testing.T) {
	h := newHarness(t, time.Hour)
	h.api.add("ci-runner", roleCI)
	h.pass(Options{})
	h.clock.Add(time.Hour)
	before := h.record("ci-runner")
	h.api.mu.Lock()
	h.api.hidden = map[string]int{}
	for id, k := range h.api.keys {
		if k.Name == "ci-runner" {
			h.api.hidden[id] = 1 // out of the next listing only
		}
	}
	h.api.mu.Unlock()
	h.pass(Options{})
	if _, ok := h.store.Get("ci", "ci-runner"); !ok {
		t.Fatal("one listing without the name's keys forgot its record")
	}
	h.clock.Add(time.Minute)
	h.pass(Options{})
	after := h.record("ci-runner")
	if !after.NoKeysSince.IsZero() || !after.CurrentSince.Equal(before.CurrentSince) || after.CurrentKeyID != before.CurrentKeyID {
		t.Errorf("after the keys were listed again: %+v, want %+v with no NoKeysSince", after, before)
	}
}

func findOutcome(out []Outcome, name string) Outcome {
	for _, o := range out {
		if o.Name == name {
			return o
		}
	}
	return Outcome{}
}

// A key the API answered "deleted" for but still lists (a zombie) keeps
// its name's record, however long: forgotten, the next pass would take
// the zombie for a new name's key (review suspicion).
func TestRecordKeptWhileADeletedKeyIsStillListed(t *testing.T) {
	h := newHarness(t, 0)
	old := h.api.add("ci-runner", roleCI)
	h.api.zombies = map[string]bool{old: true}
	h.policy.AdoptRotate = true
	h.newEngine()
	h.pass(Options{Force: true}) // rotates; the old key is "deleted" but listed
	cur := h.record("ci-runner").CurrentKeyID
	h.api.mu.Lock()
	delete(h.api.keys, cur) // the current key goes; only the zombie is listed
	h.api.mu.Unlock()
	created := h.api.n
	for range 3 {
		h.clock.Add(3 * time.Minute) // past the settle time each time
		h.pass(Options{})
	}
	if _, ok := h.store.Get("ci", "ci-runner"); !ok {
		t.Error("the record was forgotten while a key it says was deleted is still listed")
	}
	if h.api.n != created {
		t.Errorf("%d keys created for a name whose only listed key was deleted", h.api.n-created)
	}
}
