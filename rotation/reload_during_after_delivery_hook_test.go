package rotation

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/rotatord/rotatord/hooks"
)

// An after_delivery hook that a pass runs (right after the delivery, or
// again for one still owed) may hang for its whole timeout (up to 30
// minutes). A reload (SIGHUP) waited for it: while it waited, every other
// handler skipped its name (ReasonReloaded), so the other policies'
// passes and the deleter's due deletions stood still behind one hung hook
// of one name, and the reload did not answer. Seen with the real binary:
// a hung after_delivery exec hook of app-1 and a SIGHUP kept another
// policy's due deletion waiting past the hook's timeout. The reload now
// goes through at once, as it does past a consumer check the deleter
// runs; the rotation stays delivered and its old keys go later, under
// the policies in force.
func TestReloadDoesNotWaitForAnAfterDeliveryHookAPassRuns(t *testing.T) {
	h := newHarness(t, 0)
	old := h.api.add("ci-a", "ci-role")
	started := make(chan struct{}, 1)
	finish := make(chan struct{})
	hung := true
	notify := func(ctx context.Context, ev hooks.Event) error {
		if !hung {
			return nil
		}
		started <- struct{}{}
		select { // a hook that answers late
		case <-finish:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	h.policy.Hooks = []Hook{{Event: hooks.AfterDelivery, Label: "exec#0", Run: notify}}
	h.newEngine()

	passed := make(chan []Outcome, 1)
	go func() {
		out, _ := h.engine.Pass(context.Background(), nil, Options{Force: true})
		passed <- out
	}()
	<-started

	reloaded := make(chan error, 1)
	go func() { reloaded <- h.engine.SetPolicies([]Policy{h.policy}) }()
	select {
	case err := <-reloaded:
		if err != nil {
			t.Fatalf("reload: %v", err)
		}
	case <-time.After(10 * time.Second):
		close(finish)
		<-passed
		t.Fatal("a reload waited for an after_delivery hook a pass runs (hung for 10 s)")
	}

	close(finish)
	for _, o := range <-passed {
		if o.Name == "ci-a" && o.Err != nil {
			t.Fatalf("the rotation whose after_delivery hook outlived a reload failed: %v", o.Err)
		}
	}
	rec := h.record("ci-a")
	if rec.Rotation == nil || slices.Contains(rec.Rotation.HooksPending, hooks.AfterDelivery) {
		t.Fatalf("after the hook succeeded: rotation %+v, want it delivered with no after_delivery hook owed", rec.Rotation)
	}
	// The old key goes under the policies in force.
	hung = false
	h.engine.DeleteDue(context.Background())
	if slices.Contains(h.api.live("ci-a"), old) {
		t.Errorf("old key %s still alive after the deleter's round", old)
	}
}

// The same for an after_delivery hook still owed, which the next pass
// runs again before deciding.
func TestReloadDoesNotWaitForAnOwedAfterDeliveryHookAPassRuns(t *testing.T) {
	h := newHarness(t, time.Hour)
	h.api.add("ci-a", "ci-role")
	started := make(chan struct{}, 1)
	finish := make(chan struct{})
	calls := 0
	notify := func(ctx context.Context, ev hooks.Event) error {
		calls++
		if calls == 1 {
			return context.DeadlineExceeded // fails once: owed
		}
		started <- struct{}{}
		select {
		case <-finish:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	h.policy.Hooks = []Hook{{Event: hooks.AfterDelivery, Label: "exec#0", Run: notify}}
	h.newEngine()
	h.pass(Options{Force: true})
	if rot := h.record("ci-a").Rotation; rot == nil || !slices.Contains(rot.HooksPending, hooks.AfterDelivery) {
		t.Fatalf("test premise: the after_delivery hook is owed after its failure: %+v", rot)
	}

	passed := make(chan []Outcome, 1)
	go func() {
		out, _ := h.engine.Pass(context.Background(), nil, Options{})
		passed <- out
	}()
	<-started
	reloaded := make(chan error, 1)
	go func() { reloaded <- h.engine.SetPolicies([]Policy{h.policy}) }()
	select {
	case err := <-reloaded:
		if err != nil {
			t.Fatalf("reload: %v", err)
		}
	case <-time.After(10 * time.Second):
		close(finish)
		<-passed
		t.Fatal("a reload waited for an owed after_delivery hook a pass runs (hung for 10 s)")
	}
	close(finish)
	for _, o := range <-passed {
		if o.Err != nil {
			t.Fatalf("%s: %v", o.Name, o.Err)
		}
	}
	if rot := h.record("ci-a").Rotation; rot == nil || slices.Contains(rot.HooksPending, hooks.AfterDelivery) {
		t.Fatalf("after the hook succeeded: rotation %+v, want no after_delivery hook owed", rot)
	}
}
