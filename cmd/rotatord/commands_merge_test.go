package main

import (
	"errors"
	"testing"

	"github.com/rotatord/rotatord/rotation"
)

// mergeOutcomes keeps the pass's order: a name both handled keeps its
// place with the deleter's outcome (and the pass's key ids when the
// deleter has none), a name only the deleter handled comes after, and
// cmdOnce's passed actions, kept by index, still line up.
func TestMergeOutcomesKeepsIndexes(t *testing.T) {
	pass := []rotation.Outcome{
		{Policy: "p", Name: "a", KeyIDs: []string{"A"}, Decision: rotation.Decision{Action: rotation.ActionRotate}},
		{Policy: "p", Name: "b", KeyIDs: []string{"B"}},
		{Policy: "q", Name: "a", KeyIDs: []string{"QA"}},
	}
	if got := mergeOutcomes(pass, nil); len(got) != 3 || &got[0] != &pass[0] {
		t.Fatalf("no deleter outcome: got %v, want the pass's slice", got)
	}
	boom := errors.New("boom")
	got := mergeOutcomes(pass, []rotation.Outcome{
		{Policy: "p", Name: "b", Err: boom},
		{Policy: "p", Name: "a", Decision: rotation.Decision{Action: rotation.ActionNone}}, // nothing done: the pass's outcome stays
		{Policy: "r", Name: "z", KeyIDs: []string{"Z"}, Err: boom},
	})
	if len(got) != 4 {
		t.Fatalf("got %d outcomes, want 4: %v", len(got), got)
	}
	want := []struct {
		policy, name, key string
		err               bool
	}{{"p", "a", "A", false}, {"p", "b", "B", true}, {"q", "a", "QA", false}, {"r", "z", "Z", true}}
	for i, w := range want {
		o := got[i]
		if o.Policy != w.policy || o.Name != w.name || len(o.KeyIDs) != 1 || o.KeyIDs[0] != w.key || (o.Err != nil) != w.err {
			t.Errorf("outcome %d = %+v, want %+v", i, o, w)
		}
	}
	if got[0].Decision.Action != rotation.ActionRotate {
		t.Errorf("outcome 0 lost the pass's decision: %+v", got[0])
	}
}
