package rotation

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotatord/rotatord/hooks"
)

// The consumer checks (before_delete) of as many names as a round of the
// deleter runs at once hang, as a consumer's health check that never
// answers does, for minutes. The other names due in that round wait for
// a free slot, behind the hung checks. A later round must delete their
// old keys when they are due: they were left to the first round (marked
// as handled) though it never started them, so the next rounds skipped
// them and they waited for the hung checks' timeouts all the same.
func TestDeleterRoundTakesNamesQueuedBehindHungChecks(t *testing.T) {
	h := newHarness(t, time.Hour)
	hung := []string{"ci-a1", "ci-a2", "ci-a3", "ci-a4"} // as many as a round runs (concurrency 4)
	for _, n := range hung {
		h.api.add(n, "ci-role")
	}
	old := h.api.add("ci-z", "ci-role")
	started := make(chan string, len(hung))
	check := func(ctx context.Context, ev hooks.Event) error {
		if !strings.HasPrefix(ev.Name, "ci-a") {
			return nil
		}
		started <- ev.Name
		<-ctx.Done() // a consumer check that never answers
		return ctx.Err()
	}
	h.policy.Hooks = []Hook{{Event: hooks.BeforeDelete, Label: "exec#0", Run: check}}
	h.newEngine()
	h.pass(Options{Force: true})
	h.clock.Add(2 * time.Hour) // every grace period is over

	ctx, cancel := context.WithCancel(context.Background())
	var first sync.WaitGroup
	first.Add(1)
	go func() {
		defer first.Done()
		h.engine.DeleteDue(ctx)
	}()
	defer func() {
		cancel()
		first.Wait()
	}()
	for range hung {
		<-started // the first round's slots are all taken by hung checks
	}

	h.engine.DeleteDue(context.Background()) // the next round
	if slices.Contains(h.api.live("ci-z"), old) {
		t.Errorf("ci-z's old key %s is alive after a second round, its grace period over: it waits behind other names' hung consumer checks", old)
	}
}
