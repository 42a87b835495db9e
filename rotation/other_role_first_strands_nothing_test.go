package rotation

import (
	"context"
	"strings"
	"testing"
	"time"
)

// ops ("ci-*", any role) is placed before ci ("ci-*", role roleCI); the
// two share ci-runner by role, each with its own key there. ops's record,
// of its key of another role, takes no key of ci's role (ownerExceptSelf):
// a rotation of ci in flight is stranded by nothing. It made every reload
// refused for the grace period, and the start of rotatord after a crash
// (it exits) until the file was reordered: with rotatord down, the
// rotation never finished.
func TestARecordOfAnotherRoleBeforeARotationInFlightStrandsNothing(t *testing.T) {
	h := newHarness(t, time.Hour)
	const otherRole = "33333333-3333-3333-3333-333333333333"
	h.policy.Match = func(name, role string) bool { return strings.HasPrefix(name, "ci-") && role == roleCI }
	ops := Policy{
		Name:   "ops",
		Match:  func(name, role string) bool { return strings.HasPrefix(name, "ci-") },
		MaxAge: 24 * time.Hour, GracePeriod: time.Hour,
		Sinks: toSinks(newMemSink("c")),
	}
	if err := h.engine.SetPolicies([]Policy{h.policy, ops}); err != nil {
		t.Fatal(err)
	}
	h.api.add("ci-runner", roleCI)
	h.pass(Options{})
	h.api.add("ci-runner", otherRole)
	h.clock.Add(time.Minute)
	h.pass(Options{})
	policies := []Policy{ops, h.policy}
	if err := h.engine.SetPolicies(policies); err != nil {
		t.Fatalf("reload that places ops first: %v", err)
	}
	h.clock.Add(time.Minute)
	if _, err := h.engine.Pass(context.Background(), []string{"ci"}, Options{Force: true}); err != nil {
		t.Fatal(err)
	}
	if rot := h.record("ci-runner").Rotation; rot == nil {
		t.Fatal("setup: ci's rotation is not in flight")
	}
	if err := Stranded(h.store, policies); err != nil {
		t.Errorf("the same policies, at a start or a reload: %v", err)
	}
	if err := h.engine.SetPolicies(policies); err != nil {
		t.Errorf("reload with the same policies: %v", err)
	}
	// ci finishes its rotation under them: ops takes nothing of ci's.
	h.clock.Add(2 * time.Hour)
	h.pass(Options{})
	h.engine.DeleteDue(context.Background())
	r := h.record("ci-runner")
	if r.Rotation != nil || h.sinkA.holds("ci-runner") != r.CurrentKeyID {
		t.Errorf("ci's record %+v, sink a holds %s: want the rotation done", r, h.sinkA.holds("ci-runner"))
	}
	if h.rec.refused != 0 {
		t.Errorf("%d deletions refused", h.rec.refused)
	}
}
