package rotation

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rotatord/rotatord/sinks"
)

// Two policies share ci-runner by role: ci ("ci-*", role roleCI) manages
// its key of that role, ops ("ci-*", any role) the key of another role
// (ci does not match it). The new key of ci's rotation vanished during its
// grace period: ci keeps the old key, with no current key on record, and
// rotates again once it can (its sink was down). Meanwhile the name's key
// of ci's role stays ci's: ops's record, up to date with its own key of
// another role, is no record of that key (ops took it, ci's record was
// forgotten, its rotation again never came, and its sinks kept the
// vanished key).
func TestAKeyOfOneRoleStaysWithItsPolicyWhenAnotherPolicyManagesAnotherRoleUnderTheName(t *testing.T) {
	keyOfOneRoleStaysWithItsPolicy(t, false)
}

// As TestAKeyOfOneRoleStaysWithItsPolicyWhenAnotherPolicyManagesAnotherRoleUnderTheName,
// with ops placed before ci by a reload once both have their records (a
// reorder moves no name in the middle of its life). While ci's record has
// no current key (the new key of its rotation vanished in its grace
// period), no record is up to date for the name's key of ci's role: the
// first policy with any record of the name took it, and that was ops,
// through its record of its own key of another role. ci's record was
// forgotten, and ci's sinks kept the vanished key.
func TestAKeyOfOneRoleStaysWithItsPolicyWhenThePolicyOfAnotherRoleIsPlacedFirst(t *testing.T) {
	keyOfOneRoleStaysWithItsPolicy(t, true)
}

// keyOfOneRoleStaysWithItsPolicy runs the case above; opsFirst reloads the
// policies with ops placed before ci once both have their records.
func keyOfOneRoleStaysWithItsPolicy(t *testing.T, opsFirst bool) {
	t.Helper()
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
	opsKey := h.api.add("ci-runner", otherRole)
	h.clock.Add(time.Minute)
	h.pass(Options{})
	if r, ok := h.store.Get("ops", "ci-runner"); !ok || r.CurrentKeyID != opsKey {
		t.Fatalf("setup: ops's record %+v, want current key %s", r, opsKey)
	}
	if opsFirst {
		if err := h.engine.SetPolicies([]Policy{ops, h.policy}); err != nil {
			t.Fatalf("reload that places ops first: %v", err)
		}
	}
	h.clock.Add(time.Minute)
	if _, err := h.engine.Pass(context.Background(), []string{"ci"}, Options{Force: true}); err != nil {
		t.Fatal(err)
	}
	rot := h.record("ci-runner").Rotation
	if rot == nil || rot.Phase != "delivered" || h.sinkA.holds("ci-runner") != rot.NewKeyID {
		t.Fatalf("setup: ci's rotation %+v, sink a holds %q", rot, h.sinkA.holds("ci-runner"))
	}
	h.api.mu.Lock()
	delete(h.api.keys, rot.NewKeyID)
	h.api.mu.Unlock()
	h.sinkA.failWrite = sinks.NothingSent(errors.New("vault: connection refused"))
	for range 2 {
		h.clock.Add(3 * time.Minute)
		h.pass(Options{})
	}
	if r := h.record("ci-runner"); r.Rotation != nil || r.CurrentKeyID != "" {
		t.Fatalf("setup: ci's record %+v, want no rotation and no current key", r)
	}
	h.sinkA.failWrite = nil
	for range 8 {
		h.clock.Add(30 * time.Minute)
		for _, o := range h.pass(Options{}) {
			if o.Policy == "ops" && o.Name == "ci-runner" && !slices.Equal(o.KeyIDs, []string{opsKey}) {
				t.Errorf("ops handles ci-runner's keys %v, want its own %s alone", o.KeyIDs, opsKey)
			}
		}
		h.engine.DeleteDue(context.Background())
	}
	live := h.api.live("ci-runner")
	for _, s := range []*memSink{h.sinkA, h.sinkB} {
		if held := s.holds("ci-runner"); !slices.Contains(live, held) {
			t.Errorf("ci's sink %s holds %s, which the API does not list (%v): ci's consumers are left with a vanished key", s.label, held, live)
		}
	}
}
