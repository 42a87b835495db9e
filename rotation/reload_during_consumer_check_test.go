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
	hh := newHungHook(t) // a consumer check that answers late
	h.policy.Hooks = []Hook{{Event: hooks.BeforeDelete, Label: "exec#0", Run: hh.run}}
	h.newEngine()
	h.pass(Options{Force: true})
	h.clock.Add(2 * time.Hour) // the grace period is over

	round := make(chan []Outcome, 1)
	go func() { round <- h.engine.DeleteDue(context.Background()) }()
	<-hh.started
	reloadWithin(t, h.engine, []Policy{h.policy}, hh, round, "a consumer check the deleter runs")

	// The check passes after the reload (and at once from then on): the
	// deletion was decided under the policies before it, and is left to
	// the next round.
	hh.release()
	out := <-round
	if len(out) != 1 || out[0].Decision.Reason != ReasonReloaded || out[0].Err != nil {
		t.Fatalf("the round whose consumer check outlived a reload: %+v, want the name left to the next round (%q)", out, ReasonReloaded)
	}
	if !slices.Contains(h.api.live("ci-a"), old) {
		t.Fatalf("old key %s deleted under the policies a reload replaced", old)
	}
	h.engine.DeleteDue(context.Background())
	if slices.Contains(h.api.live("ci-a"), old) {
		t.Errorf("old key %s still alive after the next round, its consumer check passing", old)
	}
}
