package rotation

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rotatord/rotatord/hooks"
	"github.com/rotatord/rotatord/state"
)

type hookLog struct {
	mu   sync.Mutex
	ran  []hooks.Event
	fail bool // before_delete hooks fail
}

func (l *hookLog) run(ctx context.Context, ev hooks.Event) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ran = append(l.ran, ev)
	if l.fail && ev.Event == hooks.BeforeDelete {
		return errors.New("consumer check failed")
	}
	return nil
}

func (l *hookLog) events(event string) []hooks.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []hooks.Event
	for _, ev := range l.ran {
		if ev.Event == event {
			out = append(out, ev)
		}
	}
	return out
}

func withHooks(h *harness, l *hookLog) {
	h.policy.Hooks = []Hook{
		{Event: hooks.AfterDelivery, Label: "exec#0", Run: l.run},
		{Event: hooks.BeforeDelete, Label: "exec#1", Run: l.run},
	}
	h.newEngine()
}

// A failing before_delete hook (the consumer check) keeps the old key; it
// goes once the hook succeeds.
func TestBeforeDeleteHookFailingKeepsTheOldKey(t *testing.T) {
	h := newHarness(t, time.Hour)
	old := h.api.add("ci-runner", "ci-role")
	l := &hookLog{fail: true}
	withHooks(h, l)
	h.pass(Options{Force: true})
	if n := len(l.events(hooks.AfterDelivery)); n != 1 {
		t.Fatalf("after_delivery ran %d times, want 1", n)
	}
	h.clock.Add(2 * time.Hour)
	h.engine.DeleteDue(context.Background(), Options{IgnoreBackoff: true})
	if !slices.Contains(h.api.live("ci-runner"), old) {
		t.Fatal("the old key was deleted though the before_delete hook failed")
	}
	ev := l.events(hooks.BeforeDelete)
	if len(ev) == 0 || ev[0].OldKeyIDs[0] != old || ev[0].NewKeyID == "" || ev[0].IdempotencyKey == "" {
		t.Fatalf("before_delete events %+v", ev)
	}
	l.mu.Lock()
	l.fail = false
	l.mu.Unlock()
	h.clock.Add(time.Hour)
	h.engine.DeleteDue(context.Background(), Options{IgnoreBackoff: true})
	if slices.Contains(h.api.live("ci-runner"), old) {
		t.Error("the old key is still alive after the hook succeeded")
	}
	if h.rec.hookFailed == 0 || h.rec.hookOK == 0 {
		t.Errorf("hook runs counted: ok %d failed %d", h.rec.hookOK, h.rec.hookFailed)
	}
}

// Killed after the delivery was recorded, before the after_delivery hook
// ran: the hook runs after the restart, with the same idempotency key.
func TestAfterDeliveryHookRunsAfterACrash(t *testing.T) {
	h := newHarness(t, time.Hour)
	h.api.add("ci-runner", "ci-role")
	l := &hookLog{}
	h.wrap = func(j state.Journal) state.Journal {
		return failingJournal{j, func(r state.Record) bool {
			// The write that clears the pending hook: "killed" before it.
			return r.Rotation != nil && r.Rotation.Phase == state.PhaseDelivered && len(r.Rotation.HooksPending) == 0
		}}
	}
	withHooks(h, l)
	h.pass(Options{Force: true})
	first := l.events(hooks.AfterDelivery)
	if len(first) != 1 {
		t.Fatalf("after_delivery ran %d times before the crash, want 1", len(first))
	}
	if r, _ := h.store.Get("ci", "ci-runner"); true {
		t.Logf("record after the crash: rotation %+v", r.Rotation)
	}
	// The restart: the record still owes the hook.
	h.wrap = nil
	l2 := &hookLog{}
	withHooks(h, l2)
	h.pass(Options{})
	again := l2.events(hooks.AfterDelivery)
	if len(again) != 1 || again[0].IdempotencyKey != first[0].IdempotencyKey {
		t.Fatalf("after the restart after_delivery ran %+v, want once with key %s", again, first[0].IdempotencyKey)
	}
	h.pass(Options{})
	if n := len(l2.events(hooks.AfterDelivery)); n != 1 {
		t.Errorf("after_delivery ran %d times in all after the restart, want 1", n)
	}
}

// An after_delivery hook that keeps failing keeps the old keys: deleting
// them would end the rotation and forget the hook it owes.
func TestAfterDeliveryHookOwedKeepsTheOldKeys(t *testing.T) {
	h := newHarness(t, time.Hour)
	old := h.api.add("ci-runner", "ci-role")
	h.policy.Hooks = []Hook{{Event: hooks.AfterDelivery, Label: "exec#0", Run: func(ctx context.Context, ev hooks.Event) error {
		return errors.New("receiver down")
	}}}
	h.newEngine()
	h.pass(Options{Force: true})
	h.clock.Add(2 * time.Hour)
	h.engine.DeleteDue(context.Background(), Options{IgnoreBackoff: true})
	if !slices.Contains(h.api.live("ci-runner"), old) {
		t.Fatal("the old key was deleted while an after_delivery hook was still owed")
	}
	if r, _ := h.store.Get("ci", "ci-runner"); r.Rotation == nil || !slices.Contains(r.Rotation.HooksPending, hooks.AfterDelivery) {
		t.Errorf("the owed hook is forgotten: %+v", r.Rotation)
	}
}

// on_failure runs in the background: a slow hook does not hold the pass,
// and a failed deletion fires it too.
func TestOnFailureHookRunsInTheBackground(t *testing.T) {
	h := newHarness(t, 0)
	h.api.add("ci-runner", "ci-role")
	release := make(chan struct{})
	var mu sync.Mutex
	var got []hooks.Event
	h.policy.Hooks = []Hook{{Event: hooks.OnFailure, Label: "webhook#0", Run: func(ctx context.Context, ev hooks.Event) error {
		<-release
		mu.Lock()
		defer mu.Unlock()
		got = append(got, ev)
		return nil
	}}}
	h.newEngine()
	h.sinkA.failWrite = errors.New("disk full")
	done := make(chan struct{})
	go func() { h.pass(Options{Force: true}); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the pass waited for the on_failure hook")
	}
	close(release)
	h.engine.WaitHooks(0)
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0].Error == "" || got[0].Name != "ci-runner" {
		t.Errorf("on_failure events %+v, want one for ci-runner with the error", got)
	}
}

// Killed while the on_failure hooks of a failure had not run: the record
// owes them, and they run after the restart; once they succeeded the
// record no longer owes them. A hook that fails is run again at the next
// pass.
func TestOnFailureHookRunsAfterACrash(t *testing.T) {
	h := newHarness(t, 0)
	h.api.add("ci-runner", "ci-role")
	hang := make(chan struct{}) // never closed: the "killed" process's hook never ends
	h.policy.Hooks = []Hook{{Event: hooks.OnFailure, Label: "exec#0", Run: func(ctx context.Context, ev hooks.Event) error {
		select {
		case <-hang:
		case <-ctx.Done():
		}
		return ctx.Err()
	}}}
	h.newEngine()
	h.sinkA.failWrite = errors.New("disk full")
	h.pass(Options{Force: true})
	r, _ := h.store.Get("ci", "ci-runner")
	if r.FailureHookPending.IsZero() || !r.FailureHookPending.Equal(r.LastFailure) {
		t.Fatalf("the failure's hooks are not recorded as owed: pending %v, last failure %v", r.FailureHookPending, r.LastFailure)
	}
	owed := r.FailureHookPending

	// The restart: a new engine over the same store, whose hook fails once.
	var mu sync.Mutex
	var got []hooks.Event
	failOnce := true
	h.policy.Hooks = []Hook{{Event: hooks.OnFailure, Label: "exec#0", Run: func(ctx context.Context, ev hooks.Event) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, ev)
		if failOnce {
			failOnce = false
			return errors.New("pager down")
		}
		return nil
	}}}
	h.sinkA.failWrite = nil // no new failure: the runs below are the owed ones
	h.newEngine()
	h.pass(Options{})
	h.engine.WaitHooks(0)
	mu.Lock()
	if len(got) != 1 || got[0].Error == "" || got[0].Name != "ci-runner" {
		t.Fatalf("after the restart on_failure ran %+v, want once for ci-runner with the error", got)
	}
	mu.Unlock()
	if r, _ := h.store.Get("ci", "ci-runner"); !r.FailureHookPending.Equal(owed) {
		t.Fatalf("a failed on_failure run cleared what the record owes: %v", r.FailureHookPending)
	}
	h.pass(Options{}) // runs it again: it succeeds
	h.engine.WaitHooks(0)
	h.pass(Options{}) // sees it succeeded and clears it
	h.engine.WaitHooks(0)
	if r, _ := h.store.Get("ci", "ci-runner"); !r.FailureHookPending.IsZero() {
		t.Errorf("the record still owes on_failure hooks that succeeded: %v", r.FailureHookPending)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || got[1].IdempotencyKey != got[0].IdempotencyKey {
		t.Errorf("on_failure ran %+v after the restart, want twice (a failure, then its retry) with one idempotency key", got)
	}
}
