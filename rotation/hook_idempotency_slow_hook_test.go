package rotation

// Review of issue 14 (windows, jitter, hooks): tests that try to break the
// engine side of it. A failing test here is a defect.

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotatord/rotatord/hooks"
)

// Two failed rotations of one name, an hour apart, each with its own new
// key (created, then rolled back when no sink took it), are told to the
// on_failure hooks with one idempotency key: the rotation's new key id is
// cleared by the rollback before the event is made, so the key is
// hash(policy, name, "", on_failure) for every such failure of the name,
// for ever. A receiver that does what an idempotency key is for (drop a
// call it has seen) drops every failure after the first: the page for
// the second outage never comes. README: the key is "the same for every
// call of one event of one rotation", not of every rotation.
func TestOnFailureIdempotencyKeyDiffersBetweenRotations(t *testing.T) {
	h := newHarness(t, time.Hour)
	h.api.add("ci-runner", "ci-role")
	var mu sync.Mutex
	var got []hooks.Event
	h.policy.Hooks = []Hook{{Event: hooks.OnFailure, Label: "webhook#0", Run: func(ctx context.Context, ev hooks.Event) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, ev)
		return nil
	}}}
	h.newEngine()
	h.sinkA.failWrite = errors.New("disk full")
	h.pass(Options{Force: true})
	h.engine.WaitHooks(0)
	h.clock.Add(2 * time.Hour)
	h.pass(Options{Force: true, IgnoreBackoff: true})
	h.engine.WaitHooks(0)
	mu.Lock()
	defer mu.Unlock()
	if len(got) < 2 {
		t.Fatalf("on_failure ran %d times, want once per failed rotation (2)", len(got))
	}
	if got[0].IdempotencyKey == got[len(got)-1].IdempotencyKey {
		t.Errorf("two failed rotations (new keys %q and %q) carry one idempotency key %s: a receiver deduplicating on it drops the second failure",
			got[0].NewKeyID, got[len(got)-1].NewKeyID, got[0].IdempotencyKey)
	}
}

// A before_delete hook runs inside the name's handler, which holds the
// engine's install lock for reading. A reload (SetPolicies) waits for it
// to be released, and while the reload waits no other handler of the
// account may start (sync.RWMutex: a waiting writer blocks new readers).
// So one slow consumer check (an exec hook's timeout has no upper bound;
// a webhook with retries: 10 takes 17 minutes of backoff plus 11
// timeouts) freezes the reload and every rotation and deletion of every
// other name of the account until it ends. Here a hook taking 3 s holds
// another name's pass for as long.
func TestSlowBeforeDeleteHookDoesNotFreezeOtherNamesDuringAReload(t *testing.T) {
	h := newHarness(t, time.Hour)
	h.api.add("ci-runner", "ci-role")
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	h.policy.Hooks = []Hook{{Event: hooks.BeforeDelete, Label: "webhook#0", Run: func(ctx context.Context, ev hooks.Event) error {
		select {
		case entered <- struct{}{}:
		default:
		}
		select {
		case <-release:
		case <-time.After(3 * time.Second):
		}
		return nil
	}}}
	h.newEngine()
	apps := Policy{Name: "apps", Match: func(name, role string) bool { return strings.HasPrefix(name, "app-") },
		MaxAge: 24 * time.Hour, GracePeriod: time.Hour, Sinks: toSinks(newMemSink("c"))}
	both := []Policy{h.policy, apps}
	if err := h.engine.SetPolicies(both); err != nil {
		t.Fatal(err)
	}
	h.pass(Options{Force: true})
	h.clock.Add(2 * time.Hour)
	h.api.add("app-web", "app-role")

	deleted := make(chan struct{})
	go func() { h.engine.DeleteDue(context.Background()); close(deleted) }()
	<-entered
	reloaded := make(chan struct{})
	go func() {
		_ = h.engine.SetPolicies(both) // a SIGHUP with the same policies
		close(reloaded)
	}()
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	if _, err := h.engine.Pass(context.Background(), []string{"apps"}, Options{}); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	close(release)
	<-deleted
	<-reloaded
	if took > 2*time.Second {
		t.Errorf("a pass over other names took %s: it waited for another name's before_delete hook behind a pending reload", took.Round(time.Millisecond))
	}
}
