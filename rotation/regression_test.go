package rotation

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/sinks"
	"github.com/rotatord/rotatord/state"
)

// Regression tests for the findings of an independent review: each one is a
// way an earlier version deleted a key a sink held, or left keys behind.

const roleOther = "33333333-3333-3333-3333-333333333333"

// assertSinksHoldLiveKeys fails if any sink holds a key that no longer exists.
func (h *harness) assertSinksHoldLiveKeys(name string, ss ...*memSink) {
	h.t.Helper()
	live := h.api.live(name)
	for _, s := range ss {
		held := s.holds(name)
		if held == "" {
			continue
		}
		found := false
		for _, id := range live {
			found = found || id == held
		}
		if !found {
			h.t.Errorf("OUTAGE: sink %s holds %s for %q, which is not live (live: %v)", s.label, held, name, live)
		}
	}
}

func TestOrphanCleanupSparesAnotherRolesKey(t *testing.T) {
	h := newHarness(t, 0)
	sinkC := newMemSink("c")
	h.api.sinks = append(h.api.sinks, sinkC)
	ci := h.policy
	ci.Match = func(name, role string) bool { return strings.HasPrefix(name, "ci-") && role == roleCI }
	ops := Policy{Name: "ops", Match: func(name, role string) bool { return strings.HasPrefix(name, "ci-") },
		MaxAge: 24 * time.Hour, Sinks: toSinks(sinkC)}
	h.engine.SetPolicies([]Policy{ci, ops})
	h.api.add("ci-runner", roleCI)
	h.api.add("ci-runner", roleOther)
	h.pass(Options{Force: true})
	held := sinkC.holds("ci-runner")
	if held == "" {
		t.Fatal("policy ops delivered nothing")
	}
	h.api.createHook = func(k apiclient.Key) error { return apiclient.ErrAmbiguousCreate }
	if _, err := h.engine.Pass(context.Background(), []string{"ci"}, Options{Force: true, IgnoreBackoff: true}); err != nil {
		t.Fatal(err)
	}
	for _, id := range h.api.deleted {
		if id == held {
			t.Errorf("policy ci deleted %s, the key policy ops delivered", id)
		}
	}
	h.assertSinksHoldLiveKeys("ci-runner", h.sinkA, h.sinkB, sinkC)
	if n := len(h.api.live("ci-runner")); n != 2 {
		t.Errorf("live keys = %d, want 2 (the lost key was still cleaned up)", n)
	}
}

// blockingSink blocks its first Write until released.
type blockingSink struct {
	*memSink
	once    sync.Once
	entered chan struct{}
	release chan struct{}
}

func (b *blockingSink) Write(ctx context.Context, c sinks.Credential) error {
	first := false
	b.once.Do(func() { first = true })
	if first {
		close(b.entered)
		<-b.release
	}
	return b.memSink.Write(ctx, c)
}

func TestReconfigureDoesNotUnlockNames(t *testing.T) {
	h := newHarness(t, 0)
	bs := &blockingSink{memSink: h.sinkA, entered: make(chan struct{}), release: make(chan struct{})}
	h.policy.Sinks = []sinks.Sink{bs, h.sinkB}
	h.engine.SetPolicies([]Policy{h.policy})
	h.api.add("ci-runner", roleCI)
	h.pass(Options{}) // adopt
	first := make(chan struct{})
	go func() {
		defer close(first)
		h.engine.Pass(context.Background(), []string{"ci"}, Options{Force: true})
	}()
	<-bs.entered
	// A reload while the delivery is in flight (it waits for that handler),
	// then a pass of the new config.
	h.engine.Reconfigure(h.api, h.own, 4)
	reloaded := make(chan error, 1)
	go func() { reloaded <- h.engine.SetPolicies([]Policy{h.policy}) }()
	second := make(chan struct{})
	go func() {
		defer close(second)
		h.engine.Pass(context.Background(), []string{"ci"}, Options{})
	}()
	close(bs.release)
	<-first
	<-second
	if err := <-reloaded; err != nil {
		t.Fatal(err)
	}
	h.assertSinksHoldLiveKeys("ci-runner", h.sinkA, h.sinkB)
	if live := h.api.live("ci-runner"); len(live) != 1 || live[0] != h.sinkA.holds("ci-runner") {
		t.Errorf("live = %v, sinks hold %s", live, h.sinkA.holds("ci-runner"))
	}
}

func TestStaleRecordAfterRenameBackKeepsHeldKey(t *testing.T) {
	h := newHarness(t, 0)
	old := h.api.add("ci-runner", roleCI)
	h.pass(Options{})
	r := h.record("ci-runner")
	r.Rotation = &state.Rotation{Phase: state.PhaseIntent, StartedAt: h.clock.Now(), OldKeyIDs: []string{old}}
	if err := h.store.Put(r); err != nil { // a crash between intent and create
		t.Fatal(err)
	}
	renamed := h.policy
	renamed.Name = "ci-keys"
	h.engine.SetPolicies([]Policy{renamed})
	h.pass(Options{Force: true})
	h.engine.SetPolicies([]Policy{h.policy}) // renamed back
	h.clock.Add(2 * time.Hour)
	h.pass(Options{})
	h.assertSinksHoldLiveKeys("ci-runner", h.sinkA, h.sinkB)
}

// hidingAPI leaves one key out of its first listing.
type hidingAPI struct {
	*fakeAPI
	mu   sync.Mutex
	hide string
	n    int
}

func (f *hidingAPI) ListKeys(ctx context.Context) ([]apiclient.Key, error) {
	keys, err := f.fakeAPI.ListKeys(ctx)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	if f.n > 1 {
		return keys, err
	}
	var out []apiclient.Key
	for _, k := range keys {
		if k.ID != f.hide {
			out = append(out, k)
		}
	}
	return out, err
}

func TestRecoverReadsSinksWhateverTheListing(t *testing.T) {
	h := newHarness(t, 0)
	h.api.add("ci-runner", roleCI)
	h.sinkB.failWrite = errors.New("vault sealed")
	h.pass(Options{Force: true})
	newID := h.sinkA.holds("ci-runner")
	h.sinkB.failWrite = nil
	h.engine.Reconfigure(&hidingAPI{fakeAPI: h.api, hide: newID}, h.own, 4)
	h.pass(Options{IgnoreBackoff: true})
	h.assertSinksHoldLiveKeys("ci-runner", h.sinkA, h.sinkB)
	if got := h.sinkB.holds("ci-runner"); got != newID {
		t.Errorf("sink b holds %q, want the resumed %s", got, newID)
	}
}

func TestExcludeAfterPartialDeliveryKeepsHeldKey(t *testing.T) {
	h := newHarness(t, 0)
	h.api.add("ci-runner", roleCI)
	h.sinkB.failWrite = errors.New("vault sealed")
	h.pass(Options{Force: true})
	p := h.policy
	p.Match = func(name, role string) bool { return strings.HasPrefix(name, "ci-") && name != "ci-runner" }
	h.engine.SetPolicies([]Policy{p})
	h.pass(Options{IgnoreBackoff: true})
	h.assertSinksHoldLiveKeys("ci-runner", h.sinkA, h.sinkB)
}

type emptyListing struct{ *fakeAPI }

func (emptyListing) ListKeys(ctx context.Context) ([]apiclient.Key, error) { return nil, nil }

func TestPartialListingIsRefused(t *testing.T) {
	h := newHarness(t, 0)
	h.api.add("ci-runner", roleCI)
	h.pass(Options{})
	before := h.record("ci-runner").CurrentSince
	h.clock.Add(20 * time.Hour)
	h.engine.Reconfigure(emptyListing{h.api}, h.own, 4)
	if _, err := h.engine.Pass(context.Background(), nil, Options{}); err == nil || !strings.Contains(err.Error(), "partial listing") {
		t.Fatalf("pass on an empty listing: err = %v, want a refusal", err)
	}
	h.engine.Reconfigure(h.api, h.own, 4)
	h.pass(Options{})
	if after := h.record("ci-runner").CurrentSince; !after.Equal(before) {
		t.Errorf("CurrentSince reset from %v to %v by an empty listing", before, after)
	}
}

func TestNewKeyDeletedDuringDeliveryRotatesAgain(t *testing.T) {
	h := newHarness(t, 0)
	h.api.add("ci-runner", roleCI)
	h.sinkB.failWrite = errors.New("vault sealed")
	h.pass(Options{Force: true})
	newID := h.sinkA.holds("ci-runner")
	h.api.mu.Lock()
	delete(h.api.keys, newID) // deleted by someone else
	h.api.mu.Unlock()
	h.sinkB.failWrite = nil
	// Missing twice, the settle time apart: gone, not lagging.
	h.clock.Add(3 * time.Minute)
	h.pass(Options{IgnoreBackoff: true})
	h.clock.Add(3 * time.Minute)
	h.pass(Options{IgnoreBackoff: true})
	out := h.pass(Options{IgnoreBackoff: true})
	if d := findOutcome(out, "ci-runner").Decision; d.Action != ActionRotate {
		t.Errorf("with a sink holding a dead key, decision = %+v, want rotate", d)
	}
	h.assertSinksHoldLiveKeys("ci-runner", h.sinkA, h.sinkB)
}

func TestNewKeyDeletedDuringGraceKeepsOldKey(t *testing.T) {
	h := newHarness(t, time.Hour)
	old := h.api.add("ci-runner", roleCI)
	h.pass(Options{Force: true})
	newID := h.sinkA.holds("ci-runner")
	h.api.mu.Lock()
	delete(h.api.keys, newID)
	h.api.mu.Unlock()
	h.clock.Add(time.Hour)
	h.engine.DeleteDue(context.Background())
	if live := h.api.live("ci-runner"); len(live) != 1 || live[0] != old {
		t.Fatalf("live = %v, want the old key %s kept", live, old)
	}
	// Missing again the settle time (and the failure's backoff) later: gone.
	h.clock.Add(3 * time.Minute)
	h.engine.DeleteDue(context.Background())
	h.pass(Options{})
	h.assertSinksHoldLiveKeys("ci-runner", h.sinkA, h.sinkB)
	if h.sinkA.holds("ci-runner") == newID {
		t.Error("no new rotation after the new key vanished")
	}
}

func TestFailingTemplateSinkDoesNotPileUpKeys(t *testing.T) {
	h := newHarness(t, 0)
	h.api.add("ci-runner", roleCI)
	h.sinkA.opaque = true
	h.pass(Options{Force: true}) // the template sink now holds a file
	h.sinkA.failWrite = errors.New("disk full")
	h.sinkB.failWrite = errors.New("disk full")
	for range 6 {
		h.pass(Options{Force: true, IgnoreBackoff: true})
		h.clock.Add(time.Hour)
	}
	if n := len(h.api.live("ci-runner")); n > 1 {
		t.Errorf("%d live keys after 6 failing passes, want 1: each failed attempt must be rolled back", n)
	}
	h.assertSinksHoldLiveKeys("ci-runner", h.sinkA, h.sinkB)
}

func TestOldKeyHeldBySinkIsNotDeleted(t *testing.T) {
	h := newHarness(t, time.Hour)
	old := h.api.add("ci-runner", roleCI)
	h.pass(Options{Force: true})
	// A sink added back by a reload during the grace period still holds the
	// old key, and cannot take the new one (yet).
	sinkC := newMemSink("c")
	sinkC.held["ci-runner"] = sinks.Credential{Name: "ci-runner", KeyID: old}
	sinkC.failWrite = errors.New("read-only file system")
	h.api.sinks = append(h.api.sinks, sinkC)
	h.policy.Sinks = toSinks(h.sinkA, h.sinkB, sinkC)
	if err := h.engine.SetPolicies([]Policy{h.policy}); err != nil {
		t.Fatal(err)
	}
	h.clock.Add(time.Hour)
	out := h.engine.DeleteDue(context.Background())
	if len(out) != 1 || out[0].Err == nil {
		t.Fatalf("DeleteDue = %+v, want a refusal", out)
	}
	if live := h.api.live("ci-runner"); len(live) != 2 {
		t.Errorf("live = %v: the old key a sink holds was deleted", live)
	}
	// Once it takes writes, it is given the new key (copied from a sink
	// that holds it), and the old key goes.
	sinkC.mu.Lock()
	sinkC.failWrite = nil
	sinkC.mu.Unlock()
	h.clock.Add(Backoff(1)) // a failed deletion backs off
	h.engine.DeleteDue(context.Background())
	newID := h.sinkA.holds("ci-runner")
	if live := h.api.live("ci-runner"); len(live) != 1 || live[0] != newID {
		t.Errorf("live = %v, want only %s", live, newID)
	}
	if got := sinkC.holds("ci-runner"); got != newID {
		t.Errorf("added sink holds %s, want the new key %s", got, newID)
	}
}

func TestSuccessfulDeletionClearsFailures(t *testing.T) {
	h := newHarness(t, time.Hour)
	h.api.add("ci-runner", roleCI)
	h.pass(Options{Force: true})
	h.clock.Add(time.Hour)
	h.api.deleteErr = errors.New("503")
	h.engine.DeleteDue(context.Background())
	if r := h.record("ci-runner"); r.Failures != 1 {
		t.Fatalf("failures after a failed delete = %d", r.Failures)
	}
	h.api.deleteErr = nil
	h.clock.Add(Backoff(1)) // a failed deletion backs off
	h.engine.DeleteDue(context.Background())
	if r := h.record("ci-runner"); r.Failures != 0 || r.LastError != "" || r.Rotation != nil {
		t.Errorf("record after the delete succeeded = %+v", r)
	}
}

// The new key vanishes during the grace period: the rotation is dropped,
// and so is this process's confirmation of that key. Kept, it made a
// rotation recorded later for the name (an adoption from the sinks) look
// confirmed already: its old keys went without the confirmation delay
// (found by review).
func TestVanishedKeyForgetsItsConfirmation(t *testing.T) {
	h := newHarness(t, time.Hour)
	h.api.add("ci-runner", roleCI)
	h.pass(Options{Force: true})
	newID := h.sinkA.holds("ci-runner")
	k := recordKey{"ci", "ci-runner"}
	h.engine.mu.Lock()
	_, confirmed := h.engine.confirmed[k]
	h.engine.mu.Unlock()
	if !confirmed {
		t.Fatal("the delivered rotation is not confirmed by this process")
	}
	h.api.mu.Lock()
	delete(h.api.keys, newID)
	h.api.mu.Unlock()
	h.clock.Add(time.Hour)
	h.engine.DeleteDue(context.Background())
	h.clock.Add(3 * time.Minute) // missing again the settle time later: gone
	h.engine.DeleteDue(context.Background())
	if r := h.record("ci-runner"); r.Rotation != nil {
		t.Fatalf("the rotation of the vanished key is still on record: %+v", r.Rotation)
	}
	h.engine.mu.Lock()
	_, confirmed = h.engine.confirmed[k]
	h.engine.mu.Unlock()
	if confirmed {
		t.Error("the confirmation of the vanished key is kept")
	}
}

// A replica that leads again forgets the confirmations it made when it
// led before (ForgetConfirmations): the rotation on record may be another
// one by now, delivered by the leader in between. Its old keys wait for a
// confirmation of this process's own, as after a restart (found by
// review: the old confirmation passed it as confirmed).
func TestForgottenConfirmationIsMadeAnew(t *testing.T) {
	h := newHarness(t, time.Hour)
	h.api.add("ci-runner", roleCI)
	h.pass(Options{Force: true})
	h.clock.Add(time.Hour + time.Second)
	h.engine.ForgetConfirmations()
	out := h.engine.DeleteDue(context.Background())
	if len(out) != 1 || out[0].Err != nil || out[0].Decision.Reason != ReasonConfirming {
		t.Fatalf("DeleteDue = %+v, want the old keys waiting for a new confirmation", out)
	}
	if n := len(h.api.live("ci-runner")); n != 2 {
		t.Fatalf("%d live keys, want the old one kept for now", n)
	}
	h.clock.Add(10 * time.Second)
	out = h.engine.DeleteDue(context.Background())
	if len(out) != 1 || out[0].Err != nil || out[0].Decision.Action != ActionDelete {
		t.Fatalf("DeleteDue = %+v, want the old keys deleted after the delay", out)
	}
	if n := len(h.api.live("ci-runner")); n != 1 {
		t.Errorf("%d live keys after the delay, want 1", n)
	}
}

// TestOwnCredentialTheAPIDoesNotKnowIsNoPartialListing: a listing without
// rotatord's own key is partial only if the API knows that key. A
// credential the API keeps outside its key list (a GET of it answers not
// found too) lets passes go on, with one warning.
func TestOwnCredentialTheAPIDoesNotKnowIsNoPartialListing(t *testing.T) {
	h := newHarness(t, 0)
	old := h.api.add("ci-runner", roleCI)
	h.engine.Reconfigure(h.api, "EXO00000000000000000000ffff", 4)
	h.pass(Options{Force: true})
	if live := h.api.live("ci-runner"); len(live) != 1 || live[0] == old || h.record("ci-runner").CurrentKeyID != live[0] {
		t.Fatalf("ci-runner not rotated: live %v, old %s, record's %s", live, old, h.record("ci-runner").CurrentKeyID)
	}
}
