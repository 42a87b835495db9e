package rotation

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/rotatord/rotatord/hooks"
)

// A reload during the grace period adds sinks c and d, both holding the
// old key. The deletion gives c the new key, then d refuses it: the
// deletion fails. The operator removes the broken sink d. The next
// deletion has nothing left to catch up; c's consumer, given the new key
// by the failed attempt, must still be told (after_delivery) before the
// old key it may use goes.
func TestSinkCaughtUpBeforeAnotherSinkFailedIsToldBeforeTheOldKeyGoes(t *testing.T) {
	h, l, old := ciRunnerRotatedUnderHooksInItsGracePeriod(t)
	sinkC, sinkD := memSinkHoldingTheOldKey("c", old), memSinkHoldingTheOldKey("d", old)
	sinkD.failWrite = errors.New("permission denied")
	h.api.sinks = append(h.api.sinks, sinkC, sinkD)
	withD := h.policy
	withD.Sinks = append(slices.Clone(h.policy.Sinks), sinkC, sinkD)
	if err := h.engine.SetPolicies([]Policy{withD}); err != nil {
		t.Fatal(err)
	}

	h.clock.Add(2 * time.Hour)
	h.engine.DeleteDue(context.Background(), Options{IgnoreBackoff: true})
	cur := h.current("ci-runner")
	if sinkC.holds("ci-runner") != cur || !slices.Contains(h.api.live("ci-runner"), old) {
		t.Fatalf("test premise: sink c holds %q (current %s), old key live: %v", sinkC.holds("ci-runner"), cur, slices.Contains(h.api.live("ci-runner"), old))
	}

	// The operator removes the sink that refuses (no longer rotatord's).
	h.api.sinks = slices.DeleteFunc(h.api.sinks, func(s *memSink) bool { return s == sinkD })
	withoutD := h.policy
	withoutD.Sinks = append(slices.Clone(h.policy.Sinks), sinkC)
	if err := h.engine.SetPolicies([]Policy{withoutD}); err != nil {
		t.Fatal(err)
	}
	h.clock.Add(time.Hour)
	h.engine.DeleteDue(context.Background(), Options{IgnoreBackoff: true})
	h.clock.Add(time.Minute)
	h.engine.DeleteDue(context.Background(), Options{IgnoreBackoff: true})
	if slices.Contains(h.api.live("ci-runner"), old) {
		t.Fatalf("test premise: the old key %s is still live", old)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	told := slices.IndexFunc(l.ran, func(ev hooks.Event) bool {
		return ev.Event == hooks.AfterDelivery && slices.Contains(ev.Sinks, sinkC.Target("ci-runner"))
	})
	del := slices.IndexFunc(l.ran, func(ev hooks.Event) bool { return ev.Event == hooks.BeforeDelete })
	if told < 0 || del >= 0 && told > del {
		t.Errorf("sink c was given the new key, but no after_delivery naming it ran before the old key went: %+v", l.ran)
	}
}
