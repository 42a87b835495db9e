package rotation

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// quietHarness is a harness with n names rotated once (delivered to both
// sinks) and a pass after it: every name is quiet from there on.
func quietHarness(t *testing.T, n int) *harness {
	return quietHarnessWith(t, n, func(*harness) {})
}

// quietHarnessWith is quietHarness with setup applied to the new harness
// before its first pass.
func quietHarnessWith(t *testing.T, n int, setup func(*harness)) *harness {
	h := newHarness(t, 0)
	setup(h)
	for i := range n {
		h.api.add(fmt.Sprintf("ci-%02d", i), roleCI)
	}
	h.pass(Options{})
	h.clock.Add(time.Minute)
	h.pass(Options{Force: true})
	h.clock.Add(time.Minute)
	h.pass(Options{})
	return h
}

func (h *harness) cachedQuiet() *quietSet {
	h.engine.mu.Lock()
	defer h.engine.mu.Unlock()
	if len(h.engine.quietBusy) > 0 {
		h.t.Fatal("a quiet set is still in use after the pass")
	}
	var names []string
	for _, p := range h.engine.policies {
		names = append(names, p.Name)
	}
	return h.engine.quiet[strings.Join(names, "\x00")]
}

// countQuiet counts the fresh names of out, and fails on anything else
// but rotatord's own key.
func countQuiet(t *testing.T, out []Outcome) int {
	t.Helper()
	n := 0
	for _, o := range out {
		switch {
		case o.Err != nil:
			t.Fatalf("%s: %v", o.Name, o.Err)
		case o.Decision.Reason == ReasonFresh:
			n++
		case o.Name != "rotatord-admin":
			t.Fatalf("%s: %v, want a fresh key", o.Name, o.Decision)
		}
	}
	return n
}

func TestQuietSetServesTheNextPassWhileTheJournalStands(t *testing.T) {
	h := quietHarness(t, 5)
	first := h.cachedQuiet()
	if first == nil || len(first.candidates) != 5 {
		t.Fatalf("after a quiet pass the engine keeps %+v, want a set of the 5 names", first)
	}
	h.clock.Add(time.Minute)
	if n := countQuiet(t, h.pass(Options{})); n != 5 {
		t.Fatalf("%d fresh names, want 5", n)
	}
	if h.cachedQuiet() != first {
		t.Fatal("a pass with the journal and the policies unchanged worked the quiet set out again")
	}

	// A change to the journal: the next pass reads it.
	r := h.record("ci-02")
	r.Failures, r.LastFailure = 1, h.clock.Now()
	if err := h.store.Put(r); err != nil {
		t.Fatal(err)
	}
	h.clock.Add(time.Minute)
	h.pass(Options{})
	second := h.cachedQuiet()
	if second == first {
		t.Fatal("the quiet set outlived a change to the journal")
	}
	if len(second.candidates) != 4 {
		t.Fatalf("%d candidates after ci-02 failed, want 4", len(second.candidates))
	}

	// New policies: the set is worked out again.
	p := h.policy
	p.MaxAge = 48 * time.Hour
	if err := h.engine.SetPolicies([]Policy{p}); err != nil {
		t.Fatal(err)
	}
	h.pass(Options{})
	if h.cachedQuiet() == second {
		t.Fatal("the quiet set outlived new policies")
	}
}

// A verdict worked out at an earlier pass holds only until its Due: a
// reused set must not report a key that has come of age as fresh.
func TestReusedQuietSetRotatesKeysThatCameOfAge(t *testing.T) {
	h := quietHarness(t, 3)
	h.clock.Add(time.Minute)
	h.pass(Options{})
	cached := h.cachedQuiet()
	h.clock.Add(25 * time.Hour) // past max_age: 24h
	out := h.pass(Options{})
	if h.cachedQuiet() != cached {
		t.Fatal("the pass did not reuse the quiet set: this test checks nothing")
	}
	rotated := 0
	for _, o := range out {
		if o.Err != nil {
			t.Fatalf("%s: %v", o.Name, o.Err)
		}
		if o.Name != "rotatord-admin" {
			if o.Decision.Action != ActionRotate {
				t.Errorf("%s: %v, want a rotation: its key is 25 hours old", o.Name, o.Decision)
			}
			rotated++
		}
	}
	if rotated != 3 {
		t.Fatalf("%d outcomes of the 3 names", rotated)
	}
}

// Two passes at once: the second does not share the set the first uses.
func TestQuietSetInUseIsNotShared(t *testing.T) {
	h := quietHarness(t, 3)
	cached := h.cachedQuiet()
	h.engine.mu.Lock()
	h.engine.quietBusy = map[string]bool{cached.stamp.run: true} // as if a pass were using it
	h.engine.mu.Unlock()
	qs, _ := h.engine.quietFor([]Policy{h.policy}, []Policy{h.policy}, h.engine.policyGen, h.clock.Now(), Options{})
	if qs == cached {
		t.Fatal("a quiet set in use was handed to a second pass")
	}
	h.engine.keepQuiet(qs) // the cached one is busy: kept as it is
	h.engine.mu.Lock()
	kept := h.engine.quiet[cached.stamp.run]
	h.engine.quietBusy = nil
	h.engine.mu.Unlock()
	if kept != cached {
		t.Fatal("a second pass replaced the quiet set another pass uses")
	}
}
