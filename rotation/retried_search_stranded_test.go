package rotation

import (
	"strings"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient/exosim"
)

// A create whose every attempt the API applied and answered 429 failed;
// the intent's search found one of its two keys (the listing lagged) and
// ended, and the retried create's search (Record.RetriedCreate) is all that
// will ever look for the other key, whose secret nobody has. A reload that
// narrows the policy away from the name, or removes it, strands that search
// as it strands a rotation in flight: nothing deletes the key while the
// policy stays so (a live key nobody knows about). It was accepted: Stranded
// looked at Record.Rotation only.
func TestAReloadStrandingARetriedCreateSearchIsRefused(t *testing.T) {
	h, _ := newLaggingCreateHarness(t)
	var old string
	for id := range h.live("ci-runner", exosim.CIRoleID) {
		old = id
	}
	failEveryCreateAttemptApplied(h)
	var lied []string
	for id := range h.live("ci-runner", "") {
		if id != old {
			lied = append(lied, id)
		}
	}
	r, _ := h.store.Get("ci", "ci-runner")
	if len(lied) != 1 || r.Rotation != nil || r.RetriedCreate == nil {
		t.Fatalf("setup: keys made by the failed create still alive %v, rotation %+v, retried search %+v; want one key, no rotation, the search open",
			lied, r.Rotation, r.RetriedCreate)
	}

	narrowed := h.policy
	narrowed.Match = func(name, role string) bool { return name == "ci-other" }
	for what, policies := range map[string][]Policy{"narrowed": {narrowed}, "removed": nil} {
		err := Stranded(h.store, policies)
		if err == nil || !strings.Contains(err.Error(), "ci-runner") {
			t.Errorf("policy %s: Stranded = %v, want the open search of ci-runner named", what, err)
		}
	}
	if err := h.engine.SetPolicies([]Policy{narrowed}); err == nil {
		t.Error("a reload narrowing the policy away from ci-runner was accepted while its retried create's search is open")
	}

	// Refused, the policy stays: the search ends and deletes the key.
	for range 3 {
		h.clock.Add(time.Minute)
		h.pass(Options{})
	}
	if _, ok := h.live("ci-runner", "")[lied[0]]; ok {
		t.Errorf("key %s, made by a create answered 429, is alive after the settle time", lied[0])
	}
	if err := h.engine.SetPolicies([]Policy{narrowed}); err != nil {
		t.Errorf("the search is over, and the reload still refused: %v", err)
	}
}
