package rotation

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"
)

// Policy ci ("ci-*") managed ci-runner, was removed from the file, and
// ci2 ("ci-r*") took the name over and rotated its key. A reload that put
// ci back, first, while ci2's rotation waited for its grace period, was
// accepted: ci's stale record of the name made ci the name's owner, so
// ci2's deletion of the old key was refused ("another policy manages
// it"), and ci, which saw two live keys, never rotated either: the old
// key, which ci2's consumers had left, lived on and nobody deleted it.
// Such a reload is refused, as any that would strand a rotation in
// flight; the rotation then finishes, and the reload is accepted after.
func TestAReloadThatHandsANameWithARotationInFlightToAnotherPolicyIsRefused(t *testing.T) {
	h := newHarness(t, time.Hour)
	sinkC := newMemSink("c")
	h.api.sinks = append(h.api.sinks, sinkC)
	second := Policy{
		Name:   "ci2",
		Match:  func(name, role string) bool { return strings.HasPrefix(name, "ci-r") },
		MaxAge: 24 * time.Hour, GracePeriod: time.Hour,
		Sinks: toSinks(sinkC),
	}
	old := h.api.add("ci-runner", roleCI)
	h.pass(Options{})
	if err := h.engine.SetPolicies([]Policy{second}); err != nil {
		t.Fatal(err)
	}
	h.clock.Add(time.Minute)
	h.pass(Options{})
	h.clock.Add(time.Minute)
	h.pass(Options{Force: true})
	cur := sinkC.holds("ci-runner")
	if cur == "" || cur == old {
		t.Fatalf("setup: ci2's sink holds %q, want a new key", cur)
	}

	err := h.engine.SetPolicies([]Policy{h.policy, second})
	if err == nil || !strings.Contains(err.Error(), "ci2/ci-runner") {
		t.Errorf("reload that gives ci-runner, whose rotation under ci2 is in flight, to ci: %v, want it refused naming ci2/ci-runner", err)
	}
	// The same policies with ci2 first leave the name to ci2.
	if err := h.engine.SetPolicies([]Policy{second, h.policy}); err != nil {
		t.Fatalf("reload that keeps ci-runner with ci2: %v", err)
	}
	for range 4 {
		h.clock.Add(30 * time.Minute)
		h.pass(Options{})
		h.engine.DeleteDue(context.Background())
	}
	if live := h.api.live("ci-runner"); slices.Contains(live, old) || !slices.Contains(live, cur) {
		t.Errorf("live keys %v; want %s, the key ci2's sink holds, and not %s, the one it replaced", live, cur, old)
	}
	if h.rec.refused != 0 {
		t.Errorf("%d deletions refused", h.rec.refused)
	}
	// The rotation done, nothing is stranded.
	if err := h.engine.SetPolicies([]Policy{h.policy, second}); err != nil {
		t.Errorf("reload once ci2's rotation is done: %v", err)
	}
}
