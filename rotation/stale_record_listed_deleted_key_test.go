package rotation

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"
)

// As in TestAPolicyPutBackWithAStaleRecordDoesNotTakeTheNameFromItsManager,
// but the API still lists the key ci2 deleted (it answered "deleted", or
// its listings lag): ci's stale record names a listed key. That key is one
// ci2's record says was deleted, not a key ci's record is up to date with:
// ci put back first must not take the name (it adopted that deleted key
// from its sinks and deleted the key ci2's sink holds).
func TestAPolicyPutBackWhileItsKeyIsListedAfterItsDeletionDoesNotTakeTheName(t *testing.T) {
	h := newHarness(t, time.Hour)
	sinkC := newMemSink("c")
	h.api.sinks = []*memSink{sinkC}
	second := Policy{
		Name:   "ci2",
		Match:  func(name, role string) bool { return strings.HasPrefix(name, "ci-r") },
		MaxAge: 24 * time.Hour, GracePeriod: time.Hour,
		Sinks: toSinks(sinkC),
	}
	old := h.api.add("ci-runner", roleCI)
	h.pass(Options{})
	h.pass(Options{Force: true}) // ci delivers a key of its own to its sinks
	h.clock.Add(2 * time.Hour)
	h.pass(Options{})
	h.engine.DeleteDue(context.Background())
	old = h.record("ci-runner").CurrentKeyID
	if held := h.sinkA.holds("ci-runner"); held != old {
		t.Fatalf("setup: ci's sink holds %q, want %s", held, old)
	}
	if err := h.engine.SetPolicies([]Policy{second}); err != nil {
		t.Fatal(err)
	}
	// The API answers "deleted" for ci's key but keeps listing it.
	h.api.mu.Lock()
	h.api.zombies = map[string]bool{old: true}
	h.api.mu.Unlock()
	h.clock.Add(time.Minute)
	h.pass(Options{})
	h.clock.Add(time.Minute)
	h.pass(Options{Force: true})
	h.clock.Add(2 * time.Hour)
	h.pass(Options{})
	h.engine.DeleteDue(context.Background())
	cur := sinkC.holds("ci-runner")
	if r, _ := h.store.Get("ci2", "ci-runner"); cur == "" || cur == old || r.CurrentKeyID != cur || !r.Deleted.Has(old) {
		t.Fatalf("setup: ci2's sink holds %q, its record %+v; want a new key, and %s deleted", cur, r, old)
	}
	if live := h.api.live("ci-runner"); !slices.Contains(live, old) {
		t.Fatalf("setup: the API no longer lists %s: %v", old, live)
	}

	if err := h.engine.SetPolicies([]Policy{h.policy, second}); err != nil {
		t.Fatalf("reload that puts ci back: %v", err)
	}
	// ci's sinks were left with the key ci2 deleted (README): deleting
	// it again, as a key still listed after its deletion, is no outage.
	for _, o := range h.pass(Options{DryRun: true}) {
		if o.Name == "ci-runner" && o.Policy == "ci" && len(o.KeyIDs) > 0 {
			t.Errorf("plan: ci handles ci-runner's keys %v (%s/%s), want ci2 to", o.KeyIDs, o.Decision.Action, o.Decision.Reason)
		}
	}
	for range 6 {
		h.clock.Add(30 * time.Minute)
		for _, o := range h.pass(Options{}) {
			if o.Name == "ci-runner" && o.Policy == "ci" && len(o.KeyIDs) > 0 {
				t.Errorf("ci handles ci-runner's keys %v: %s (%s)", o.KeyIDs, o.Decision.Action, o.Decision.Reason)
			}
		}
		h.engine.DeleteDue(context.Background())
	}
	// ci2 deletes again the key the API still lists: ci's stale record
	// of it, placed first, is no record of a key ci manages (the
	// deletion was refused, as of an edited state record, until ci's
	// own schedule forgot that record).
	if h.rec.refused != 0 {
		t.Errorf("%d deletions refused", h.rec.refused)
	}
	for _, e := range h.logs.FilterMessageSnippet("refusing").All() {
		t.Errorf("logged: %s %v", e.Message, e.ContextMap())
	}
	if held := sinkC.holds("ci-runner"); held != cur || !slices.Contains(h.api.live("ci-runner"), held) {
		t.Errorf("ci2's sink holds %s, the API lists %v; want %s listed", held, h.api.live("ci-runner"), cur)
	}
}
