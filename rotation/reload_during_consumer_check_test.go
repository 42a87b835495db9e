package rotation

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/rotatord/rotatord/hooks"
)

// A consumer check (before_delete) that the deleter runs may hang for its
// whole timeout (up to 30 minutes). A reload (SIGHUP) must not wait for
// it: while a reload waits, every other handler skips its name
// (ReasonReloaded), so the other names' due deletions and rotations
// waited for the hung check too, and the reload itself did not answer.
// The check ends after the reload: its name is left to the next round,
// which runs it again under the policies now in force; it is not
// deleted under the old ones.
func TestReloadDoesNotWaitForAConsumerCheckTheDeleterRuns(t *testing.T) {
	h := newHarness(t, time.Hour)
	old := h.api.add("ci-a", "ci-role")
	started := make(chan struct{}, 1)
	finish := make(chan struct{})
	hung := true
	check := func(ctx context.Context, ev hooks.Event) error {
		if !hung {
			return nil
		}
		started <- struct{}{}
		select { // a consumer check that answers late
		case <-finish:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	h.policy.Hooks = []Hook{{Event: hooks.BeforeDelete, Label: "exec#0", Run: check}}
	h.newEngine()
	h.pass(Options{Force: true})
	h.clock.Add(2 * time.Hour) // the grace period is over

	round := make(chan []Outcome, 1)
	go func() { round <- h.engine.DeleteDue(context.Background()) }()
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
		<-round
		t.Fatal("a reload waited for a consumer check the deleter runs (hung for 10 s)")
	}

	// The check passes after the reload: the deletion was decided under
	// the policies before it, and is left to the next round.
	close(finish)
	out := <-round
	if len(out) != 1 || out[0].Decision.Reason != ReasonReloaded || out[0].Err != nil {
		t.Fatalf("the round whose consumer check outlived a reload: %+v, want the name left to the next round (%q)", out, ReasonReloaded)
	}
	if !slices.Contains(h.api.live("ci-a"), old) {
		t.Fatalf("old key %s deleted under the policies a reload replaced", old)
	}
	hung = false
	h.engine.DeleteDue(context.Background())
	if slices.Contains(h.api.live("ci-a"), old) {
		t.Errorf("old key %s still alive after the next round, its consumer check passing", old)
	}
}
