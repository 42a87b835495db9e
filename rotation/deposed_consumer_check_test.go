package rotation

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rotatord/rotatord/hooks"
)

// A consumer check (before_delete) that a replica runs when it loses the
// Lease is cancelled: the old key is kept, and the next leader runs the
// check again before it deletes it.
func TestConsumerCheckCancelledByALostLeaseKeepsTheOldKey(t *testing.T) {
	h := newHarness(t, time.Hour)
	old := h.api.add("ci-runner", "ci-role")
	var deposed atomic.Bool
	var checks atomic.Int32
	h.policy.Hooks = []Hook{{Event: hooks.BeforeDelete, Label: "exec#0", Run: func(ctx context.Context, ev hooks.Event) error {
		if checks.Add(1) == 1 {
			// The replica loses the Lease while its check runs.
			deposed.Store(true)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Minute):
				return nil // the check passed: too late, the replica no longer leads
			}
		}
		return nil
	}}}
	h.newFencedEngine(&deposed)
	h.pass(Options{Force: true})
	for range 3 {
		h.clock.Add(2 * time.Hour)
		h.engine.DeleteDue(context.Background())
		if checks.Load() > 0 {
			break
		}
	}
	if checks.Load() != 1 {
		t.Fatalf("the consumer check ran %d times, want 1", checks.Load())
	}
	if !slices.Contains(h.api.live("ci-runner"), old) {
		t.Fatal("the old key was deleted though its consumer check was cancelled when the replica lost the Lease")
	}
	// The new leader (the journal as the old one left it).
	var leads atomic.Bool
	h.newFencedEngine(&leads)
	for range 3 {
		h.clock.Add(2 * time.Hour)
		h.engine.DeleteDue(context.Background())
		if !slices.Contains(h.api.live("ci-runner"), old) {
			break
		}
	}
	if slices.Contains(h.api.live("ci-runner"), old) {
		t.Fatalf("the new leader never deleted the old key (consumer checks run: %d)", checks.Load())
	}
	if checks.Load() < 2 {
		t.Fatalf("the old key was deleted without the new leader's consumer check (checks: %d)", checks.Load())
	}
}
