package rotation

import (
	"fmt"
	"testing"
	"time"
)

// TestQuietSetReusedWithOwnKeyPolicy: with an own-key policy, a
// no-op pass must leave the journal as it is, so the next reuses the set.
func TestQuietSetReusedWithOwnKeyPolicy(t *testing.T) {
	sh := newSelfHarness(t, 0)
	for i := range 5 {
		sh.api.add(fmt.Sprintf("ci-%02d", i), roleCI)
	}
	sh.pass(Options{})
	sh.clock.Add(time.Minute)
	sh.pass(Options{})
	sh.clock.Add(time.Minute)
	sh.pass(Options{})
	first := sh.cachedQuiet()
	v0 := sh.harness.store.Version()
	for i := range 3 {
		sh.clock.Add(time.Minute)
		out := sh.pass(Options{})
		for _, o := range out {
			if o.Err != nil || o.Decision.Action != ActionNone {
				t.Fatalf("%s/%s: %v %v", o.Policy, o.Name, o.Decision, o.Err)
			}
		}
		if v := sh.harness.store.Version(); v != v0 {
			t.Errorf("pass %d: a no-op pass wrote the journal (version %d -> %d)", i, v0, v)
			v0 = v
		}
		if sh.cachedQuiet() != first {
			t.Errorf("pass %d: the quiet set was worked out again", i)
			first = sh.cachedQuiet()
		}
	}
}

// TestQuietSetReusedAcrossPoliciesScheduledApart: the daemon runs
// each policy on its own cron entry (a pass of one policy each), and the
// pass at start runs them all: one slot for the last set only.
func TestQuietSetReusedAcrossPoliciesScheduledApart(t *testing.T) {
	h := serialQuietHarness(t, 5)
	ops := h.policy
	ops.Name = "ops"
	ops.Match = func(name, role string) bool { return len(name) > 4 && name[:4] == "ops-" }
	if err := h.engine.SetPolicies([]Policy{h.policy, ops}); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		h.api.add(fmt.Sprintf("ops-%02d", i), roleCI)
	}
	h.pass(Options{})
	h.clock.Add(time.Minute)
	h.pass(Options{})
	worked := 0
	for range 4 {
		for _, p := range []string{"ci", "ops"} {
			before := h.cachedQuiet()
			h.clock.Add(time.Minute)
			if _, err := h.engine.Pass(t.Context(), []string{p}, Options{}); err != nil {
				t.Fatal(err)
			}
			if h.cachedQuiet() != before {
				worked++
			}
		}
	}
	if worked > 2 {
		t.Errorf("two policies on their own schedules, the journal unchanged: the quiet set was worked out %d times in 8 passes", worked)
	}
}
