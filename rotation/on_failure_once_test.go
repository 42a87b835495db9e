package rotation

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/rotatord/rotatord/hooks"
)

// `once` from cron is one process per run. An on_failure hook that
// succeeded in one run must not be owed by the record any more when that
// process ends: the next run (a new process, which knows nothing of the
// last one's hooks) would send the same alert again, and so would every
// run after it, for good. The record is cleared as soon as the hooks
// succeed, not at the name's next pass.
func TestOnFailureHooksThatSucceededAreNotRunAgainByTheNextProcess(t *testing.T) {
	h := newHarness(t, 0)
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
	h.pass(Options{Force: true, IgnoreBackoff: true})
	h.engine.WaitHooks(0) // `once` waits for them before it exits
	if r := h.record("ci-runner"); !r.FailureHookPending.IsZero() {
		t.Errorf("the on_failure hooks succeeded, yet the record still owes them (%v)", r.FailureHookPending)
	}
	// The next `once`: a new process; nothing fails any more.
	h.sinkA.failWrite = nil
	for range 2 {
		h.newEngine()
		h.pass(Options{IgnoreBackoff: true})
		h.engine.WaitHooks(0)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 {
		t.Errorf("on_failure ran %d times for one failure, want once: %+v", len(got), got)
	}
}
