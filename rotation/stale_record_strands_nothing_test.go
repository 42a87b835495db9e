package rotation

import (
	"context"
	"strings"
	"testing"
	"time"
)

// ci managed ci-runner, was removed from the file; ci2 ("ci-r*") took the
// name, rotated it and deleted ci's key. ci put back first keeps its
// record of that deleted key until its own schedule runs it twice (the
// settle time apart), and takes nothing meanwhile: ci2 manages the name.
// ci2's next rotation, in flight, must not make every reload refused, nor
// the start of rotatord after a crash or an upgrade (Stranded, at start:
// rotatord exits), on the ground that ci "would take the name": ci's
// record is of a key ci2's record says was deleted, or no key of the name
// ci2's rotation knows.
func TestAStaleRecordOfAPolicyPutBackFirstStrandsNoRotation(t *testing.T) {
	for _, listed := range []bool{false, true} {
		name := "deleted_key_gone"
		if listed {
			name = "deleted_key_still_listed"
		}
		t.Run(name, func(t *testing.T) {
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
			if err := h.engine.SetPolicies([]Policy{second}); err != nil {
				t.Fatal(err)
			}
			if listed {
				h.api.mu.Lock()
				h.api.zombies = map[string]bool{old: true}
				h.api.mu.Unlock()
			}
			h.clock.Add(time.Minute)
			h.pass(Options{})
			h.clock.Add(time.Minute)
			h.pass(Options{Force: true})
			h.clock.Add(2 * time.Hour)
			h.pass(Options{})
			h.engine.DeleteDue(context.Background())
			if r, _ := h.store.Get("ci2", "ci-runner"); r.Rotation != nil || r.CurrentKeyID == old {
				t.Fatalf("setup: ci2's record %+v, want its rotation done", r)
			}

			policies := []Policy{h.policy, second}
			if err := h.engine.SetPolicies(policies); err != nil {
				t.Fatalf("reload that puts ci back: %v", err)
			}
			// Only ci2's schedule runs: it rotates the name again.
			h.clock.Add(time.Hour)
			if _, err := h.engine.Pass(context.Background(), []string{"ci2"}, Options{Force: true}); err != nil {
				t.Fatal(err)
			}
			if r, _ := h.store.Get("ci2", "ci-runner"); r.Rotation == nil {
				t.Fatalf("setup: ci2's rotation is not in flight: %+v", r)
			}
			if _, ok := h.store.Get("ci", "ci-runner"); !ok {
				t.Fatal("setup: ci's stale record is gone already")
			}
			if err := Stranded(h.store, policies); err != nil {
				t.Errorf("the same policies, at a start or a reload: %v", err)
			}
			if err := h.engine.SetPolicies(policies); err != nil {
				t.Errorf("reload with the same policies: %v", err)
			}
		})
	}
}
