package rotation

import (
	"testing"
	"time"
)

// rotatord's own key shares a name with two keys of another role that
// the policy matches, with no rotation on record and one sink holding one
// of them. A policy matching the own key's name leaves the whole name
// alone, whatever the role: the adoption from the sinks must not write
// the other sink either (found by review: it did, before the own-key
// check, and recorded nothing).
func TestAdoptionLeavesTheOwnKeysNameAlone(t *testing.T) {
	h := newHarness(t, time.Hour)
	h.own = h.api.add("shared", "admin-role")
	h.policy.Match = func(name, role string) bool { return name == "shared" && role == roleCI }
	h.newEngine()
	ci := h.api.add("shared", roleCI)
	h.api.add("shared", roleCI)
	h.sinkA.held["shared"] = credOf("shared", ci)
	writes := h.sinkB.writes

	for _, o := range h.pass(Options{}) {
		if o.Name == "shared" && o.Decision.Reason != ReasonOwnKey {
			t.Errorf("shared: %v, want it skipped as rotatord's own key's name", o.Decision)
		}
	}
	if h.sinkB.writes != writes || h.sinkB.holds("shared") != "" {
		t.Errorf("sink b written on the own key's name (%d writes, holds %q)", h.sinkB.writes-writes, h.sinkB.holds("shared"))
	}
	if _, ok := h.store.Get("ci", "shared"); ok {
		t.Error("a record written for the own key's name")
	}
}
