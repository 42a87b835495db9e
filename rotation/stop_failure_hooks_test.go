package rotation

import (
	"context"
	"errors"
	"testing"

	"github.com/rotatord/rotatord/hooks"
)

// A stop waits a few seconds for the on_failure hooks still running, then
// leaves them. Left running, an exec hook outlives rotatord: nobody kills
// it at its timeout any more, and the restart (or the next `once` from
// cron) runs the same hook again beside it. The hooks a stop leaves are
// cancelled (an exec hook's process group is killed), and the stop waits
// for them to end; the record still owes them, so they run again at the
// next start.
func TestStopCancelsTheOnFailureHooksItLeaves(t *testing.T) {
	h := newHarness(t, 0)
	h.api.add("ci-runner", "ci-role")
	started := make(chan context.Context, 1)
	h.policy.Hooks = []Hook{{Event: hooks.OnFailure, Label: "exec#0", Run: func(ctx context.Context, ev hooks.Event) error {
		started <- ctx
		<-ctx.Done() // a hook that hangs until it is killed
		return ctx.Err()
	}}}
	h.newEngine()
	h.sinkA.failWrite = errors.New("disk full")
	h.pass(Options{Force: true})
	ctx := <-started
	if h.engine.StopHooks(0) {
		t.Fatal("StopHooks says the hanging hook ended on its own")
	}
	if ctx.Err() == nil {
		t.Fatal("the stop left the on_failure hook running")
	}
	if !h.engine.WaitHooks(0) {
		t.Fatal("hooks still running after StopHooks")
	}
	if rec := h.record("ci-runner"); rec.FailureHookPending.IsZero() {
		t.Error("the cancelled on_failure hook is no longer owed")
	}
}
