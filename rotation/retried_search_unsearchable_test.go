package rotation

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient/exosim"
)

// A retried create's search (Record.RetriedCreate) that can never run
// again (searchOrphansOf refuses an intent whose role is not the record's:
// here the name's key was replaced by hand by one of another role while
// the search was open, and the record follows the new key) must not make
// every reload that narrows or removes the policy refused for good, nor
// every start exit: nothing the refusal waits for will ever happen, and the
// operator could no longer narrow or remove the policy without editing the
// journal. Stranded counted it as open since 9f8ad02.
func TestAnUnsearchableRetriedCreateSearchStrandsNothing(t *testing.T) {
	h, client := newLaggingCreateHarness(t)
	failEveryCreateAttemptApplied(h)
	r, _ := h.store.Get("ci", "ci-runner")
	if r.Rotation != nil || r.RetriedCreate == nil {
		t.Fatalf("setup: rotation %+v, retried search %+v; want no rotation, the search open", r.Rotation, r.RetriedCreate)
	}

	// The name's keys replaced by hand by one of another role; the record
	// follows it (as Reconcile takes the role of the current key).
	ctx := context.Background()
	for id := range h.live("ci-runner", "") {
		if err := client.DeleteKey(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	made, err := client.CreateKey(ctx, "ci-runner", exosim.ReadonlyRoleID)
	if err != nil {
		t.Fatal(err)
	}
	r, _ = h.store.Get("ci", "ci-runner")
	r.CurrentKeyID, r.RoleID = made.ID, made.RoleID
	if err := h.store.Put(r); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		h.clock.Add(time.Minute)
		h.pass(Options{})
	}
	r, _ = h.store.Get("ci", "ci-runner")
	if r.RetriedCreate == nil || h.logs.FilterMessageSnippet("search for keys of a retried create's earlier attempts failed").
		FilterFieldKey("error").Len() == 0 {
		t.Fatalf("setup: the search (%+v) is not the one that fails at every pass", r.RetriedCreate)
	}

	narrowed := h.policy
	narrowed.Match = func(name, role string) bool { return name == "ci-other" }
	for what, policies := range map[string][]Policy{"narrowed": {narrowed}, "removed": nil} {
		if err := Stranded(h.store, policies); err != nil && strings.Contains(err.Error(), "ci-runner") {
			t.Errorf("policy %s: refused for a search that can never run again: %v", what, err)
		}
	}
	if err := h.engine.SetPolicies([]Policy{narrowed}); err != nil {
		t.Errorf("a reload narrowing the policy is refused for good: %v", err)
	}
}
