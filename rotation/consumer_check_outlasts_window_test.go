package rotation

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/rotatord/rotatord/hooks"
)

// A consumer check that takes longer than the window stays open (a
// 15-minute window, a check of 20 minutes) ends after the window closed
// every time: the old keys wait for the next window, where it runs again
// and ends late again, so they are never deleted. Waiting for a window is
// normal and silent; this wait is not, and the operator is told: a
// warning naming the check's duration and the window it outlasted.
func TestConsumerCheckOutlastingTheWindowIsWarnedAbout(t *testing.T) {
	day := func(d, h, m int) time.Time { return time.Date(2026, 12, d, h, m, 0, 0, time.UTC) } // the 14th is a Monday
	h := newHarness(t, time.Hour)
	old := h.api.add("ci-runner", "ci-role")
	h.clock.now = day(14, 9, 0)
	var days [7]bool
	for i := range days {
		days[i] = true
	}
	h.policy.Windows = weekdays09to16()
	h.policy.Windows[0].Days = days
	h.policy.Windows[0].End = 9*time.Hour + 15*time.Minute
	checks := 0
	h.policy.Hooks = []Hook{{Event: hooks.BeforeDelete, Label: "exec#0", Run: func(ctx context.Context, ev hooks.Event) error {
		checks++
		h.clock.now = h.clock.now.Add(20 * time.Minute)
		return nil
	}}}
	h.newEngine()
	h.pass(Options{Force: true})
	for d := 15; d <= 17; d++ {
		h.clock.now = day(d, 9, 0)
		h.engine.DeleteDue(context.Background())
	}
	if !slices.Contains(h.api.live("ci-runner"), old) {
		t.Fatal("the old key was deleted after the window closed")
	}
	if checks < 2 {
		t.Fatalf("the consumer check ran %d times, want one in each window", checks)
	}
	var warned []string
	for _, e := range h.logs.All() {
		if e.Level >= zapcore.WarnLevel && strings.Contains(e.Message, "consumer check") && strings.Contains(e.Message, "window") {
			warned = append(warned, e.Message)
		}
	}
	if len(warned) == 0 {
		t.Fatal("the consumer check outlasted the window three times, and nothing but a silent wait says so")
	}
}
