package rotation

// Second review of the issue 14 fixes (engine): tests that try to break
// the fixes themselves. A failing test here is a defect.

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"testing"
	"time"

	"github.com/rotatord/rotatord/hooks"
)

// The on_failure idempotency key of one failure is computed from the
// record as it is when the hooks run, not as it was at the failure: the
// LastFailure part is pinned (FailureHookPending), the new key id is not.
// A before_delete consumer check fails (failure F, rotation in flight, new
// key X: key hash(X@F)); the pager is down, so the on_failure run fails.
// The consumer check then passes and the rotation completes (no rotation,
// no new key id). The next pass runs the owed on_failure hooks of F again,
// now with key hash(""@F): the receiver sees two failures where there was
// one (the same happens after a crash when the deleter finishes the
// rotation before a pass settles the hooks). The retry also loses the
// error text and the key ids.
func TestOnFailureRetryKeepsItsIdempotencyKey(t *testing.T) {
	h := newHarness(t, time.Hour)
	h.api.add("ci-runner", "ci-role")
	var mu sync.Mutex
	var failures []hooks.Event
	consumerFails, pagerDown := true, true
	h.policy.Hooks = []Hook{
		{Event: hooks.BeforeDelete, Label: "exec#0", Run: func(ctx context.Context, ev hooks.Event) error {
			mu.Lock()
			defer mu.Unlock()
			if consumerFails {
				return errors.New("consumer check failed")
			}
			return nil
		}},
		{Event: hooks.OnFailure, Label: "webhook#1", Run: func(ctx context.Context, ev hooks.Event) error {
			mu.Lock()
			defer mu.Unlock()
			failures = append(failures, ev)
			if pagerDown {
				return errors.New("pager down")
			}
			return nil
		}},
	}
	h.newEngine()
	h.pass(Options{Force: true})
	h.clock.Add(2 * time.Hour)
	h.engine.DeleteDue(context.Background(), Options{IgnoreBackoff: true}) // consumer check fails: failure F
	h.engine.WaitHooks(0)
	mu.Lock()
	consumerFails, pagerDown = false, false
	mu.Unlock()
	h.clock.Add(time.Hour)
	h.engine.DeleteDue(context.Background(), Options{IgnoreBackoff: true}) // passes: the rotation completes
	if r := h.record("ci-runner"); r.Rotation != nil || r.FailureHookPending.IsZero() {
		t.Fatalf("test premise: rotation done (%v) with F's hooks still owed (%v)", r.Rotation, r.FailureHookPending)
	}
	h.pass(Options{}) // reruns the hooks F owes
	h.engine.WaitHooks(0)
	mu.Lock()
	defer mu.Unlock()
	if len(failures) != 2 {
		t.Fatalf("on_failure ran %d times, want 2 (the failed run and its retry)", len(failures))
	}
	if failures[0].IdempotencyKey != failures[1].IdempotencyKey {
		t.Errorf("one failure told twice with two idempotency keys: %s (new key %q, error %q) then %s (new key %q, error %q)",
			failures[0].IdempotencyKey, failures[0].NewKeyID, failures[0].Error,
			failures[1].IdempotencyKey, failures[1].NewKeyID, failures[1].Error)
	}
}

// LockInstall now polls TryLock every 5 ms, and gets the lock only at an
// instant when no handler holds it. With concurrency > 1 the handlers of
// a pass overlap, so that instant is the end of the pass: a reload waits
// for every remaining name of the pass (2,000 names, or one slow consumer
// check among them), where Lock waited for the handlers in flight. A
// daemon with several accounts holds the engines it already locked
// meanwhile, so those accounts are frozen for as long as the other one
// keeps passes or deletions going; with passes back to back the reload
// never happens. Here 40 names at 4 in parallel, each handler 25-75 ms
// (a slow after_delivery hook): the reload, sent just after the pass
// started, should not wait ~0.5 s for all of them.
func TestReloadIsNotStarvedByAPass(t *testing.T) {
	h := newHarness(t, time.Hour)
	for i := range 40 {
		h.api.add(fmt.Sprintf("ci-%02d", i), "ci-role")
	}
	started := make(chan struct{}, 100)
	h.policy.Hooks = []Hook{{Event: hooks.AfterDelivery, Label: "exec#0", Run: func(ctx context.Context, ev hooks.Event) error {
		started <- struct{}{}
		f := fnv.New32a()
		f.Write([]byte(ev.Name))
		time.Sleep(25*time.Millisecond + time.Duration(f.Sum32()%50)*time.Millisecond)
		return nil
	}}}
	h.newEngine()
	passDone := make(chan time.Time, 1)
	go func() {
		h.pass(Options{Force: true})
		passDone <- time.Now()
	}()
	<-started
	start := time.Now()
	if err := h.engine.SetPolicies([]Policy{h.policy}); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	end := <-passDone
	if took > 250*time.Millisecond {
		t.Errorf("the reload waited %s (the pass ended %s after the reload began): it got the lock only when the whole pass was over",
			took.Round(time.Millisecond), end.Sub(start).Round(time.Millisecond))
	}
}
