package rotation

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/rotatord/rotatord/hooks"
	"github.com/rotatord/rotatord/state"
)

var errNoLease = errors.New("this replica does not hold the Lease")

// newFencedEngine is newEngine with a fence (as the daemon wires its
// leader election): it refuses once deposed is set.
func (h *harness) newFencedEngine(deposed *atomic.Bool) {
	h.t.Helper()
	var j state.Journal = h.store
	if h.wrap != nil {
		j = h.wrap(h.store)
	}
	h.engine = New(Config{API: h.api, Store: j, Logger: zap.NewNop(), Recorder: h.rec, Now: h.clock.Now, Sleep: h.clock.Sleep, OwnKeyID: h.own,
		Fence: func() error {
			if deposed.Load() {
				return errNoLease
			}
			return nil
		}})
	if err := h.engine.SetPolicies([]Policy{h.policy}); err != nil {
		h.t.Fatal(err)
	}
}

// deposeOnDelivered is a journal that deposes the replica right after the
// write recording a delivery: a leader paused (SIGSTOP, a frozen VM) just
// after that write, waking when another replica leads.
type deposeOnDelivered struct {
	state.Journal
	deposed *atomic.Bool
}

func (d deposeOnDelivered) Put(r state.Record) error {
	err := d.Journal.Put(r)
	if r.Rotation != nil && r.Rotation.Phase == state.PhaseDelivered {
		d.deposed.Store(true)
	}
	return err
}

// A replica that lost the Lease after recording a delivery runs no
// after_delivery hook: the hook stays owed in the journal, for the new
// leader to run.
func TestDeposedLeaderRunsNoAfterDeliveryHook(t *testing.T) {
	h := newHarness(t, time.Hour)
	h.api.add("ci-runner", "ci-role")
	var deposed atomic.Bool
	h.wrap = func(j state.Journal) state.Journal { return deposeOnDelivered{Journal: j, deposed: &deposed} }
	var ran atomic.Int32
	h.policy.Hooks = []Hook{{Event: hooks.AfterDelivery, Label: "exec#0", Run: func(ctx context.Context, ev hooks.Event) error {
		ran.Add(1)
		return nil
	}}}
	h.newFencedEngine(&deposed)
	h.engine.Pass(context.Background(), nil, Options{Force: true})
	if !deposed.Load() {
		t.Fatal("the rotation was not delivered")
	}
	if n := ran.Load(); n != 0 {
		t.Errorf("the after_delivery hook ran %d times after the replica lost the Lease, want 0", n)
	}
	r := h.record("ci-runner")
	if r.Rotation == nil || len(r.Rotation.HooksPending) == 0 {
		t.Errorf("record %+v: want the after_delivery hook still owed", r.Rotation)
	}
}

// The on_failure hooks run in the background: when the replica loses the
// Lease meanwhile, they are cancelled (they are owed in the journal, and
// the new leader runs them), not left running beside the new leader's.
func TestOnFailureHookOfADeposedLeaderIsCancelled(t *testing.T) {
	h := newHarness(t, 0)
	h.api.add("ci-runner", "ci-role")
	var deposed atomic.Bool
	started := make(chan struct{})
	ended := make(chan error, 1)
	h.policy.Hooks = []Hook{{Event: hooks.OnFailure, Label: "webhook#0", Run: func(ctx context.Context, ev hooks.Event) error {
		close(started)
		<-ctx.Done()
		ended <- ctx.Err()
		return ctx.Err()
	}}}
	h.newFencedEngine(&deposed)
	h.sinkA.failWrite = errors.New("disk full")
	h.engine.Pass(context.Background(), nil, Options{Force: true})
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("the on_failure hook did not start")
	}
	deposed.Store(true)
	select {
	case <-ended:
	case <-time.After(60 * time.Second):
		t.Fatal("the on_failure hook of a replica that lost the Lease ran on for a minute")
	}
	h.engine.WaitHooks(0)
	if r := h.record("ci-runner"); r.FailureHookPending.IsZero() {
		t.Error("the cancelled on_failure hook is no longer owed")
	}
}
