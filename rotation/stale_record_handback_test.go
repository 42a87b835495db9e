package rotation

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/state"
)

// Policy ci ("ci-*") managed ci-runner, was removed from the file, and
// ci2 ("ci-r*") took the name over, rotated it and deleted the key ci had
// delivered. Putting ci back, first, once nothing was in flight gave the
// name back to ci: the owner was the first policy with a record of the
// name, and ci's record, of a key long deleted, was one. ci, whose
// current key was gone, rotated the name and deleted the key ci2's sink
// held once its grace period ran out: ci2's consumers were left with a
// deleted key. The policy whose record names the key listed keeps the
// name; ci's stale record takes nothing.
func TestAPolicyPutBackWithAStaleRecordDoesNotTakeTheNameFromItsManager(t *testing.T) {
	h := newHarness(t, time.Hour)
	sinkC, _, cur := handedToCi2AndPutBack(t, h, func(name, role string) bool { return strings.HasPrefix(name, "ci-r") })
	// Dry run first: plan must say what a pass would do.
	shown := false
	for _, o := range h.pass(Options{DryRun: true}) {
		if o.Name == "ci-runner" && o.Policy == "ci" {
			shown = true
			if len(o.KeyIDs) > 0 || o.Decision.Reason != ReasonCurrentGone {
				t.Errorf("plan: ci handles ci-runner's keys %v (%s/%s), want ci2 to, and ci's record shown with no key", o.KeyIDs, o.Decision.Action, o.Decision.Reason)
			}
		}
	}
	if !shown {
		t.Errorf("plan does not show ci's stale record of ci-runner")
	}
	for i := range 6 {
		h.clock.Add(30 * time.Minute)
		// The daemon runs each policy on its own schedule: a pass of one
		// policy (its quiet names worked out from the journal alone) gives
		// the name to the same policy as a pass of all.
		var names []string
		switch i % 3 {
		case 1:
			names = []string{"ci"}
		case 2:
			names = []string{"ci2"}
		}
		out, err := h.engine.Pass(context.Background(), names, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range out {
			if o.Name == "ci-runner" && o.Policy == "ci" && o.Decision.Action != ActionNone {
				t.Errorf("ci acts on ci-runner: %s (%s)", o.Decision.Action, o.Decision.Reason)
			}
		}
		h.engine.DeleteDue(context.Background())
	}
	if held := sinkC.holds("ci-runner"); !slices.Contains(h.api.live("ci-runner"), held) {
		t.Errorf("ci2's sink holds %s, which the API no longer lists (live: %v): ci2's consumers are left with a deleted key", held, h.api.live("ci-runner"))
	}
	// ci's record, of no listed key, is forgotten after the settle time,
	// as any record whose keys are gone: it can take nothing later.
	if r, ok := h.store.Get("ci", "ci-runner"); ok {
		t.Errorf("ci's stale record of ci-runner is kept (current key %s)", r.CurrentKeyID)
	}
	// A rotation of every name (rotatord rotate) rotates ci-runner under
	// ci2, whose sink gets the new key.
	h.clock.Add(time.Minute)
	h.pass(Options{Force: true})
	h.clock.Add(2 * time.Hour)
	h.pass(Options{})
	h.engine.DeleteDue(context.Background())
	held := sinkC.holds("ci-runner")
	if live := h.api.live("ci-runner"); !slices.Equal(live, []string{held}) || held == cur {
		t.Errorf("after a forced rotation the API lists %v and ci2's sink holds %s; want the sink's new key alone", live, held)
	}
	if h.rec.refused != 0 {
		t.Errorf("%d deletions refused", h.rec.refused)
	}
}

// Which of several policies matching a name, each with a record of it,
// manages it: the first whose record is up to date (its current key
// listed under the name, or a rotation in flight), else the first with a
// record.
func TestTheOwnerOfANameIsTheFirstPolicyWithAnUpToDateRecord(t *testing.T) {
	second := Policy{
		Name:   "ci2",
		Match:  func(name, role string) bool { return strings.HasPrefix(name, "ci-r") },
		MaxAge: 24 * time.Hour, GracePeriod: time.Hour,
		Sinks: toSinks(newMemSink("c")),
	}
	const gone, k1, k2 = "EXO-gone", "EXO-1", "EXO-2"
	current := func(policy, id string) state.Record {
		return state.Record{Policy: policy, Name: "ci-runner", RoleID: roleCI, CurrentKeyID: id}
	}
	inFlight := func(policy, old, new string) state.Record {
		r := current(policy, old)
		r.Rotation = &state.Rotation{Phase: state.PhaseDelivered, OldKeyIDs: []string{old}, NewKeyID: new, RoleID: roleCI}
		return r
	}
	for _, c := range []struct {
		name    string
		records []state.Record
		listed  []string
		want    string
	}{
		{"no record", nil, []string{k1}, "ci"},
		{"one record, stale", []state.Record{current("ci2", gone)}, []string{k1}, "ci2"},
		{"first stale, second current", []state.Record{current("ci", gone), current("ci2", k1)}, []string{k1}, "ci2"},
		{"first stale, second in flight", []state.Record{current("ci", gone), inFlight("ci2", k1, k2)}, []string{k1, k2}, "ci2"},
		{"both current", []state.Record{current("ci", k1), current("ci2", k1)}, []string{k1}, "ci"},
		{"both stale", []state.Record{current("ci", gone), current("ci2", "EXO-gone-too")}, []string{k1}, "ci"},
		// Stranded refuses the reload that makes this (e660778).
		{"first names the old key of the second's rotation", []state.Record{current("ci", k1), inFlight("ci2", k1, k2)}, []string{k1, k2}, "ci"},
	} {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			h := newHarness(t, time.Hour)
			policies := []Policy{h.policy, second}
			if err := h.engine.SetPolicies(policies); err != nil {
				t.Fatal(err)
			}
			for _, r := range c.records {
				if err := h.store.Put(r); err != nil {
					t.Fatal(err)
				}
			}
			var listed []apiclient.Key
			for _, id := range c.listed {
				listed = append(listed, apiclient.Key{ID: id, Name: "ci-runner", RoleID: roleCI})
			}
			for _, k := range listed {
				if got := h.engine.owner(policies, k, listed); got != c.want {
					t.Errorf("owner of %s: %q, want %q", k.ID, got, c.want)
				}
			}
		})
	}
}

// TestTheOwnerCheckReadsRoleIDsWithoutCase: role ids are UUIDs, and an API
// may spell one in two cases (a key listed in upper case, the record's in
// lower). ci2's record, up to date, is of the role of a second key of the
// name listed in upper case; read as of another role, ci's stale record
// took that key.
func TestTheOwnerCheckReadsRoleIDsWithoutCase(t *testing.T) {
	const role = "7c3a1f0e-5b2d-4e8a-9f61-2d4b8c0a1e02"
	h := newHarness(t, time.Hour)
	second := Policy{
		Name:   "ci2",
		Match:  func(name, role string) bool { return strings.HasPrefix(name, "ci-r") },
		MaxAge: 24 * time.Hour, GracePeriod: time.Hour,
		Sinks: toSinks(newMemSink("c")),
	}
	first := h.policy
	first.Match = func(name, role string) bool { return strings.HasPrefix(name, "ci-") }
	policies := []Policy{first, second}
	if err := h.engine.SetPolicies(policies); err != nil {
		t.Fatal(err)
	}
	for _, r := range []state.Record{
		{Policy: "ci", Name: "ci-runner", RoleID: role, CurrentKeyID: "EXO-gone"},
		{Policy: "ci2", Name: "ci-runner", RoleID: role, CurrentKeyID: "EXO-1"},
	} {
		if err := h.store.Put(r); err != nil {
			t.Fatal(err)
		}
	}
	listed := []apiclient.Key{
		{ID: "EXO-1", Name: "ci-runner", RoleID: role},
		{ID: "EXO-2", Name: "ci-runner", RoleID: strings.ToUpper(role)},
	}
	if got := h.engine.owner(policies, listed[1], listed); got != "ci2" {
		t.Errorf("owner of the key listed with its role in upper case: %q, want ci2", got)
	}
}

// handedToCi2AndPutBack sets up the hand-over of the tests above: ci
// manages ci-runner, is removed from the file, ci2 (match, sink c) takes
// the name, rotates it and deletes ci's key, and ci is put back first,
// nothing in flight. It returns ci2's sink, ci's old key and the key
// ci2's sink holds.
func handedToCi2AndPutBack(t *testing.T, h *harness, match func(name, role string) bool) (sinkC *memSink, old, cur string) {
	t.Helper()
	sinkC = newMemSink("c")
	// ci's sinks are left behind with the removal of ci: the deletion of
	// their key by ci2 is no concern of this test until ci is back.
	h.api.sinks = []*memSink{sinkC}
	second := Policy{
		Name:   "ci2",
		Match:  match,
		MaxAge: 24 * time.Hour, GracePeriod: time.Hour,
		Sinks: toSinks(sinkC),
	}
	old = h.api.add("ci-runner", roleCI)
	h.pass(Options{})
	if got := h.record("ci-runner").CurrentKeyID; got != old {
		t.Fatalf("setup: ci's record has current key %q, want %s", got, old)
	}
	if err := h.engine.SetPolicies([]Policy{second}); err != nil {
		t.Fatal(err)
	}
	h.clock.Add(time.Minute)
	h.pass(Options{})
	h.clock.Add(time.Minute)
	h.pass(Options{Force: true})
	h.clock.Add(2 * time.Hour)
	h.pass(Options{})
	h.engine.DeleteDue(context.Background())
	cur = sinkC.holds("ci-runner")
	if live := h.api.live("ci-runner"); cur == "" || cur == old || !slices.Equal(live, []string{cur}) {
		t.Fatalf("setup: ci2's sink holds %q and the API lists %v, want one new key, not %s", cur, live, old)
	}

	// ci back, first: nothing is in flight, so the reload is accepted.
	if err := h.engine.SetPolicies([]Policy{h.policy, second}); err != nil {
		t.Fatalf("reload that puts ci back: %v", err)
	}
	h.api.mu.Lock()
	h.api.sinks = []*memSink{h.sinkA, h.sinkB, sinkC}
	h.api.mu.Unlock()
	return sinkC, old, cur
}
