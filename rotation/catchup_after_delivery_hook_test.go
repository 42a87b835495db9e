package rotation

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/rotatord/rotatord/hooks"
	"github.com/rotatord/rotatord/secret"
	"github.com/rotatord/rotatord/sinks"
)

// A reload during the grace period adds sink c, which still holds the old
// key (a consumer's file taken over). The deletion first gives sink c the
// new key (catchUp): that is a delivery its consumer is told of by the
// after_delivery hooks, as the other sinks' consumers were, before the
// old key it still uses is deleted.
func TestSinkAddedDuringTheGracePeriodGetsAfterDeliveryBeforeTheOldKeyGoes(t *testing.T) {
	h, l, old := ciRunnerRotatedUnderHooksInItsGracePeriod(t)
	sinkC := memSinkHoldingTheOldKey("c", old)
	h.api.sinks = append(h.api.sinks, sinkC)
	h.policy.Sinks = append(h.policy.Sinks, sinkC)
	if err := h.engine.SetPolicies([]Policy{h.policy}); err != nil {
		t.Fatal(err)
	}

	h.clock.Add(2 * time.Hour)
	h.engine.DeleteDue(context.Background(), Options{IgnoreBackoff: true})
	cur := h.current("ci-runner")
	if sinkC.holds("ci-runner") != cur || slices.Contains(h.api.live("ci-runner"), old) {
		t.Fatalf("test premise: sink c holds %q (current %s), old key live: %v", sinkC.holds("ci-runner"), cur, slices.Contains(h.api.live("ci-runner"), old))
	}
	after := l.events(hooks.AfterDelivery)
	if len(after) != 2 || !slices.Contains(after[1].Sinks, sinkC.Target("ci-runner")) || after[1].NewKeyID != cur {
		t.Fatalf("after_delivery events %+v: want a second one, naming sink c, once it holds the new key", after)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	last := slices.IndexFunc(l.ran, func(ev hooks.Event) bool { return ev.Event == hooks.AfterDelivery && len(ev.Sinks) == 3 })
	del := slices.IndexFunc(l.ran, func(ev hooks.Event) bool { return ev.Event == hooks.BeforeDelete })
	if del >= 0 && last > del {
		t.Errorf("sink c's after_delivery ran after the consumer check (before_delete): %+v", l.ran)
	}
}

// ciRunnerRotatedUnderHooksInItsGracePeriod returns a harness with a grace
// period of an hour whose hooks log to the returned hookLog, after a
// forced pass rotated ci-runner (its one after_delivery ran), and the key
// id of ci-runner's old key, still live.
func ciRunnerRotatedUnderHooksInItsGracePeriod(t *testing.T) (*harness, *hookLog, string) {
	t.Helper()
	h := newHarness(t, time.Hour)
	old := h.api.add("ci-runner", roleCI)
	l := &hookLog{}
	withHooks(h, l)
	h.pass(Options{Force: true})
	if n := len(l.events(hooks.AfterDelivery)); n != 1 {
		t.Fatalf("test premise: after_delivery ran %d times at the rotation, want 1", n)
	}
	return h, l, old
}

// memSinkHoldingTheOldKey returns a memory sink named name that holds
// ci-runner's old key old (a consumer's file taken over by a reload).
func memSinkHoldingTheOldKey(name, old string) *memSink {
	s := newMemSink(name)
	s.put(sinks.Credential{Name: "ci-runner", KeyID: old, RoleID: roleCI, Secret: secret.Value("secret-of-the-old-key")})
	return s
}
