package rotation

import (
	"context"
	"sync"
	"testing"

	"github.com/rotatord/rotatord/hooks"
	"github.com/rotatord/rotatord/state"
)

// A stop may wait for the on_failure hooks while a pass that outlasted
// its timeout starts another (a failure at the very end): waiting and
// starting must not race. A sync.WaitGroup forbids an Add from zero
// concurrent with a Wait (a panic at worst, "WaitGroup misuse").
func TestWaitingForHooksWhileAnotherStarts(t *testing.T) {
	h := newHarness(t, 0)
	p := h.policy
	p.Hooks = []Hook{{Event: hooks.OnFailure, Label: "exec#0", Run: func(ctx context.Context, ev hooks.Event) error { return nil }}}
	rec := state.Record{Policy: p.Name, Name: "ci-runner"}
	for range 200 {
		var wg sync.WaitGroup
		wg.Go(func() { h.engine.startFailureHooks(p, &rec, "failed") })
		wg.Go(func() { h.engine.WaitHooks(0) })
		wg.Wait()
	}
	if !h.engine.WaitHooks(0) {
		t.Fatal("hooks still running")
	}
}
