package rotation

import (
	"context"
	"testing"
	"time"

	"github.com/rotatord/rotatord/internal/window"
)

// A policy whose only sink is a free-form template (allowed: one sink
// needs no read-back) delivered the current key; someone then makes a key
// by hand under the name. A pass cannot read which key the sink holds, so
// it adopts nothing and keeps both keys. plan must not claim the pass
// deletes the hand-made key.
func TestPlanDoesNotPromiseARetirementAPassCannotMake(t *testing.T) {
	h := newHarness(t, time.Hour)
	tmpl := newMemSink("tmpl")
	tmpl.opaque = true
	h.api.sinks = append(h.api.sinks, tmpl)
	h.policy.Sinks = toSinks(tmpl)
	if err := h.engine.SetPolicies([]Policy{h.policy}); err != nil {
		t.Fatal(err)
	}
	h.api.add("ci-runner", roleCI)
	h.pass(Options{Force: true})
	h.clock.Add(time.Hour + time.Minute)
	h.engine.DeleteDue(context.Background())
	current := h.current("ci-runner")
	if live := h.api.live("ci-runner"); len(live) != 1 || live[0] != current {
		t.Fatalf("test premise: live = %v, want only the delivered key %s", live, current)
	}
	h.api.add("ci-runner", roleCI)

	planned := findOutcome(h.pass(Options{DryRun: true}), "ci-runner").Decision
	h.pass(Options{})
	if r := h.record("ci-runner"); r.Rotation != nil {
		t.Fatalf("test premise: the pass adopted from a sink it cannot read: %+v", r.Rotation)
	}
	if planned.Reason == ReasonRetireOthers {
		t.Errorf("plan decision = %+v: says the hand-made key is deleted, but the pass, which cannot read the sink, keeps both keys", planned)
	}
}

// The deletion plan announces for a hand-made key waits, as any grace
// period's end does, for the policy's next window: plan's NEXT is then,
// not the end of the grace period in a closed window.
func TestPlanRetirementWaitsForTheWindow(t *testing.T) {
	h := newHarness(t, time.Hour)
	h.api.add("ci-runner", roleCI)
	h.pass(Options{Force: true})
	h.clock.Add(time.Hour + time.Minute)
	h.engine.DeleteDue(context.Background())
	h.api.add("ci-runner", roleCI)

	// Open for an hour from now: the grace period ends after it closes.
	days, _ := window.ParseDays([]string{"*"})
	now := h.clock.Now()
	start := time.Duration(now.Hour()) * time.Hour
	h.policy.Windows = window.Set{{Days: days, Start: start, End: start + time.Hour, Zone: time.UTC}}
	if err := h.engine.SetPolicies([]Policy{h.policy}); err != nil {
		t.Fatal(err)
	}
	planned := findOutcome(h.pass(Options{DryRun: true}), "ci-runner").Decision
	if planned.Reason != ReasonRetireOthers {
		t.Fatalf("test premise: plan decision = %+v, want %q", planned, ReasonRetireOthers)
	}
	h.pass(Options{})
	passed := findOutcome(h.pass(Options{}), "ci-runner").Decision
	if passed.Reason != ReasonGraceRunning {
		t.Fatalf("test premise: the pass after the adoption says %+v", passed)
	}
	if !planned.Due.Equal(passed.Due) {
		t.Errorf("plan's NEXT %v, the pass's %v: the deletion waits for the next window", planned.Due, passed.Due)
	}
}
