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
	hh := newHungHook(t) // a hook that answers late
	h.policy.Hooks = []Hook{{Event: hooks.AfterDelivery, Label: "exec#0", Run: hh.run}}
	h.newEngine()

	passOverAReload(t, h, hh, Options{Force: true}, "an after_delivery hook a pass runs")
	rec := h.record("ci-a")
	if rec.Rotation == nil || slices.Contains(rec.Rotation.HooksPending, hooks.AfterDelivery) {
		t.Fatalf("after the hook succeeded: rotation %+v, want it delivered with no after_delivery hook owed", rec.Rotation)
	}
	// The old key goes under the policies in force.
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
	hh := newHungHook(t)
	calls := 0
	notify := func(ctx context.Context, ev hooks.Event) error {
		calls++
		if calls == 1 {
			return context.DeadlineExceeded // fails once: owed
		}
		return hh.run(ctx, ev)
	}
	h.policy.Hooks = []Hook{{Event: hooks.AfterDelivery, Label: "exec#0", Run: notify}}
	h.newEngine()
	h.pass(Options{Force: true})
	if rot := h.record("ci-a").Rotation; rot == nil || !slices.Contains(rot.HooksPending, hooks.AfterDelivery) {
		t.Fatalf("test premise: the after_delivery hook is owed after its failure: %+v", rot)
	}

	passOverAReload(t, h, hh, Options{}, "an owed after_delivery hook a pass runs")
	if rot := h.record("ci-a").Rotation; rot == nil || slices.Contains(rot.HooksPending, hooks.AfterDelivery) {
		t.Fatalf("after the hook succeeded: rotation %+v, want no after_delivery hook owed", rot)
	}
}
