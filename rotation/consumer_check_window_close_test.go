package rotation

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/rotatord/rotatord/hooks"
)

// A consumer check (before_delete) may run for up to 30 minutes, and a
// webhook's retries longer. One that starts in the window and ends after
// it closed must not let the old keys go outside the windows: the
// deletion waits for the next window (where the check runs again), as a
// deletion whose grace period ends outside one does. Both the deleter and
// a pass, and a rotation with grace_period 0.
func TestConsumerCheckEndingAfterTheWindowClosedKeepsTheOldKey(t *testing.T) {
	mon := func(h, m int) time.Time { return time.Date(2026, 12, 14, h, m, 0, 0, time.UTC) } // a Monday
	for _, c := range []struct {
		name  string
		grace time.Duration
		// deleteStep runs the deletion once the grace period is over.
		deleteStep func(h *harness)
	}{
		{"deleter", time.Hour, func(h *harness) { h.engine.DeleteDue(context.Background()) }},
		{"pass", time.Hour, func(h *harness) { h.pass(Options{}) }},
		{"grace period 0", 0, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, c.grace)
			old := h.api.add("ci-runner", "ci-role")
			h.clock.now = mon(14, 0)
			h.policy.Windows = weekdays09to16()
			checks := 0
			h.policy.Hooks = []Hook{{Event: hooks.BeforeDelete, Label: "exec#0", Run: func(ctx context.Context, ev hooks.Event) error {
				checks++
				if checks == 1 {
					// The first check runs from 15:50 to 16:10.
					h.clock.mu.Lock() // another name's goroutine reads the clock
					h.clock.now = mon(16, 10)
					h.clock.mu.Unlock()
				}
				return nil
			}}}
			h.newEngine()
			if c.grace == 0 {
				h.clock.now = mon(15, 50)
			}
			h.pass(Options{Force: true})
			if c.deleteStep != nil {
				h.clock.now = mon(15, 50)
				c.deleteStep(h)
			}
			if checks != 1 {
				t.Fatalf("the consumer check ran %d times, want once", checks)
			}
			if !slices.Contains(h.api.live("ci-runner"), old) {
				t.Fatalf("the old key was deleted at %s, after the window closed at 16:00", h.clock.Now().Format("15:04"))
			}
			// Tuesday 09:05: the next window; the check runs again and
			// the old key goes.
			h.clock.now = time.Date(2026, 12, 15, 9, 5, 0, 0, time.UTC)
			h.engine.DeleteDue(context.Background())
			if slices.Contains(h.api.live("ci-runner"), old) {
				t.Fatalf("the old key is still live in the next window (consumer checks: %d)", checks)
			}
		})
	}
}

// `once --ignore-windows` deletes outside the windows through the deleter
// too, its consumer check included: the check of the window after the
// consumer check is told to ignore them as well.
func TestIgnoreWindowsDeletesAfterTheConsumerCheckOutsideTheWindows(t *testing.T) {
	h := newHarness(t, time.Hour)
	old := h.api.add("ci-runner", "ci-role")
	h.clock.now = time.Date(2026, 12, 13, 12, 0, 0, 0, time.UTC) // a Sunday
	h.policy.Windows = weekdays09to16()
	checks := 0
	h.policy.Hooks = []Hook{{Event: hooks.BeforeDelete, Label: "exec#0", Run: func(ctx context.Context, ev hooks.Event) error {
		checks++
		return nil
	}}}
	h.newEngine()
	h.pass(Options{Force: true, IgnoreWindows: true})
	h.clock.Add(2 * time.Hour)
	h.engine.DeleteDue(context.Background(), Options{IgnoreBackoff: true, IgnoreWindows: true})
	if checks != 1 || slices.Contains(h.api.live("ci-runner"), old) {
		t.Fatalf("--ignore-windows on a Sunday: %d consumer checks, old key live %v; want it checked and deleted", checks, slices.Contains(h.api.live("ci-runner"), old))
	}
}
