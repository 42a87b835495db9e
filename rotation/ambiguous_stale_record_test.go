package rotation

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rotatord/rotatord/secret"
	"github.com/rotatord/rotatord/sinks"
)

// ci ("ci-*") saw ci-runner with two keys and no sink that held either:
// its record names no current key. ci was removed from the file; ci2
// ("ci-r*"), whose sink holds one of the keys, adopted it and deleted the
// other. ci put back first must not take the name back through its
// record of that time, which still lists the key ci2 kept among the keys
// it saw: it would rotate the name (no key on record as current) and
// delete the key ci2's sink holds.
func TestAPolicyPutBackWithARecordOfNoCurrentKeyDoesNotTakeTheName(t *testing.T) {
	h := newHarness(t, time.Hour)
	sinkC := newMemSink("c")
	second := Policy{
		Name:   "ci2",
		Match:  func(name, role string) bool { return strings.HasPrefix(name, "ci-r") },
		MaxAge: 24 * time.Hour, GracePeriod: time.Hour,
		Sinks: toSinks(sinkC),
	}
	kept := h.api.add("ci-runner", roleCI)
	other := h.api.add("ci-runner", roleCI)
	h.pass(Options{})
	if r := h.record("ci-runner"); r.CurrentKeyID != "" || len(r.FirstSeen) != 2 {
		t.Fatalf("setup: ci's record %+v, want no current key and two keys seen", r)
	}
	if err := h.engine.SetPolicies([]Policy{second}); err != nil {
		t.Fatal(err)
	}
	h.api.mu.Lock()
	h.api.sinks = []*memSink{sinkC}
	h.api.mu.Unlock()
	sinkC.mu.Lock()
	sinkC.held["ci-runner"] = sinks.Credential{Name: "ci-runner", KeyID: kept, RoleID: roleCI, Secret: secret.Value("SECRET-of-the-kept-key")}
	sinkC.mu.Unlock()
	h.clock.Add(time.Minute)
	h.pass(Options{})
	for range 3 {
		h.clock.Add(time.Hour)
		h.pass(Options{})
		h.engine.DeleteDue(context.Background())
	}
	if r, _ := h.store.Get("ci2", "ci-runner"); r.CurrentKeyID != kept || r.Rotation != nil || !slices.Equal(h.api.live("ci-runner"), []string{kept}) {
		t.Fatalf("setup: ci2's record %+v, the API lists %v; want %s kept, %s deleted", r, h.api.live("ci-runner"), kept, other)
	}

	if err := h.engine.SetPolicies([]Policy{h.policy, second}); err != nil {
		t.Fatalf("reload that puts ci back: %v", err)
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
	if held := sinkC.holds("ci-runner"); held != kept || !slices.Contains(h.api.live("ci-runner"), held) {
		t.Errorf("ci2's sink holds %s, the API lists %v; want %s listed", held, h.api.live("ci-runner"), kept)
	}
}
