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

// The state was lost (or restored from an older copy) while the sinks
// disagree: sink a holds the newer key, sink b still the older one. The
// adoption writes the newer key into sink b and schedules the older key
// for deletion. That is a delivery: sink b's consumer, which picks a new
// key up when the after_delivery hook tells it (a reload, a restart), is
// told before the key it still uses is deleted.
func TestAdoptionThatWritesASinkRunsAfterDeliveryBeforeTheOldKeyGoes(t *testing.T) {
	h := newHarness(t, time.Hour)
	older := h.api.add("ci-runner", roleCI)
	newer := h.api.add("ci-runner", roleCI)
	h.sinkA.held["ci-runner"] = sinks.Credential{Name: "ci-runner", KeyID: newer, RoleID: roleCI, Secret: secret.Value("secret-of-the-newer-key")}
	h.sinkB.held["ci-runner"] = sinks.Credential{Name: "ci-runner", KeyID: older, RoleID: roleCI, Secret: secret.Value("secret-of-the-older-key")}
	l := &hookLog{}
	withHooks(h, l)

	h.pass(Options{})
	if got := h.sinkB.holds("ci-runner"); got != newer {
		t.Fatalf("test premise: the adoption gave sink b %s, want the newer key %s", got, newer)
	}
	h.clock.Add(2 * time.Hour)
	h.pass(Options{})
	h.clock.Add(time.Minute)
	h.engine.DeleteDue(context.Background(), Options{IgnoreBackoff: true})
	if slices.Contains(h.api.live("ci-runner"), older) {
		t.Fatalf("test premise: the older key %s is still live after the grace period", older)
	}
	after := l.events(hooks.AfterDelivery)
	if len(after) != 1 || after[0].NewKeyID != newer || !slices.Contains(after[0].OldKeyIDs, older) {
		t.Fatalf("after_delivery events %+v: want one for the adopted key %s (old %s), which sink b was given", after, newer, older)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	ia := slices.IndexFunc(l.ran, func(ev hooks.Event) bool { return ev.Event == hooks.AfterDelivery })
	ib := slices.IndexFunc(l.ran, func(ev hooks.Event) bool { return ev.Event == hooks.BeforeDelete })
	if ib >= 0 && ia > ib {
		t.Errorf("after_delivery ran after before_delete: %+v", l.ran)
	}
}
