package rotation

import (
	"slices"
	"testing"

	"github.com/rotatord/rotatord/sinks"
)

// A name with a current key on record and no key in any sink gets a
// second key of its role (a create whose intent a restored state lost, or
// a key someone made): every sink proves it does not hold that key, so it
// is retired after the grace period and the current key stays. A sink
// that cannot say what it holds keeps both keys, as before.
func TestUnheldSecondKeyOfUndeliveredNameIsRetired(t *testing.T) {
	tests := []struct {
		name     string
		opaque   bool // sink b is a template that holds something
		wantLive int
	}{
		{"every sink proves it holds neither key", false, 1},
		{"a sink cannot say", true, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, 0)
			current := h.api.add("ci-x", roleCI)
			h.pass(Options{}) // on record as the current key, young: nothing delivered
			if r := h.record("ci-x"); r.CurrentKeyID != current {
				t.Fatalf("current key = %q, want %s", r.CurrentKeyID, current)
			}
			if tt.opaque {
				h.sinkB.opaque = true
				h.sinkB.held["ci-x"] = sinks.Credential{Name: "ci-x", KeyID: "EXO-written-by-hand"}
			}
			other := h.api.add("ci-x", roleCI)
			out := h.pass(Options{})
			live := h.api.live("ci-x")
			if len(live) != tt.wantLive || !slices.Contains(live, current) {
				t.Fatalf("live = %v after %+v, want %d keys with %s", live, findOutcome(out, "ci-x").Decision, tt.wantLive, current)
			}
			if tt.wantLive == 2 && !slices.Contains(live, other) {
				t.Fatalf("live = %v, want %s kept", live, other)
			}
			h.assertAtMostTwoKeys()
		})
	}
}
