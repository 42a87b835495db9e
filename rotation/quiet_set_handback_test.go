package rotation

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient"
)

// gatedListAPI holds the next ListKeys until released.
type gatedListAPI struct {
	*fakeAPI
	mu      sync.Mutex
	gate    chan struct{}
	entered chan struct{}
}

func (g *gatedListAPI) hold() (entered, release chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.gate, g.entered = make(chan struct{}), make(chan struct{})
	return g.entered, g.gate
}

func (g *gatedListAPI) ListKeys(ctx context.Context) ([]apiclient.Key, error) {
	g.mu.Lock()
	gate, entered := g.gate, g.entered
	g.gate, g.entered = nil, nil
	g.mu.Unlock()
	if gate != nil {
		close(entered)
		<-gate
	}
	return g.fakeAPI.ListKeys(ctx)
}

func (h *harness) cachedSet(run string) *quietSet {
	h.engine.mu.Lock()
	defer h.engine.mu.Unlock()
	if len(h.engine.quietBusy) > 0 {
		h.t.Fatal("a quiet set is still in use after the pass")
	}
	return h.engine.quiet[run]
}

// twoQuietPolicies: policies ci and ops, every name quiet, a set of
// each cached; the API can hold a listing.
func twoQuietPolicies(t *testing.T) (*harness, *gatedListAPI) {
	h := serialQuietHarness(t, 4)
	ops := h.policy
	ops.Name = "ops"
	ops.Match = func(name, role string) bool { return len(name) > 4 && name[:4] == "ops-" }
	if err := h.engine.SetPolicies([]Policy{h.policy, ops}); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		h.api.add(fmt.Sprintf("ops-%02d", i), roleCI)
	}
	h.pass(Options{Force: true})
	h.clock.Add(time.Minute)
	h.pass(Options{})
	g := &gatedListAPI{fakeAPI: h.api}
	h.engine.Reconfigure(g, h.own, 1)
	for range 2 {
		for _, p := range []string{"ci", "ops"} {
			h.clock.Add(time.Minute)
			h.quietPass(p)
		}
	}
	if h.cachedSet("ci") == nil || h.cachedSet("ops") == nil {
		t.Fatal("no set cached per policy")
	}
	return h, g
}

func (h *harness) quietPass(policies ...string) {
	out, err := h.engine.Pass(context.Background(), policies, Options{})
	if err != nil {
		h.t.Fatal(err)
	}
	for _, o := range out {
		if o.Err != nil || o.Decision.Reason != ReasonFresh && o.Name != "rotatord-admin" {
			h.t.Fatalf("%s/%s: %v %v", o.Policy, o.Name, o.Decision, o.Err)
		}
	}
}

// bumpJournal writes a record unchanged: the version moves.
func (h *harness) bumpJournal() {
	if err := h.store.Put(h.record("ci-01")); err != nil {
		h.t.Fatal(err)
	}
}

// TestPassAcrossReloadEvictsCurrentSets: a pass that started
// before a reload hands back a set of the replaced policies; keepQuiet
// evicts, for it, the sets of the policies in force (policyGen != ...),
// which the next passes could have reused, and keeps one no pass can.
func TestPassAcrossReloadEvictsCurrentSets(t *testing.T) {
	h, g := twoQuietPolicies(t)
	h.bumpJournal() // the slow pass works its set out anew
	entered, release := g.hold()
	done := make(chan struct{})
	go func() { defer close(done); h.clock.Add(0); h.quietPass("ci") }()
	<-entered
	// A reload (the same policies) while its listing is on the wire.
	if err := h.engine.SetPolicies(h.engine.policies0()); err != nil {
		t.Fatal(err)
	}
	h.quietPass("ops")
	h.quietPass("ops")
	opsSet := h.cachedSet("ops")
	if opsSet == nil || opsSet.stamp.policyGen != h.engine.policyGen {
		t.Fatalf("no set of the policies in force for ops")
	}
	close(release)
	<-done
	if got := h.cachedSet("ops"); got != opsSet {
		t.Errorf("a pass of the replaced policies evicted the ops set of the policies in force (now %p, was %p)", got, opsSet)
	}
	if ci := h.cachedSet("ci"); ci != nil && ci.stamp.policyGen != h.engine.policyGen {
		t.Errorf("kept a ci set of replaced policies (gen %d, in force %d): no pass can reuse it", ci.stamp.policyGen, h.engine.policyGen)
	}
}

// TestStalePassReplacesCurrentSet: two passes of one policy
// overlap (a scheduled pass and a slow one); the one that read the
// journal first hands its set back last and replaces the newer set, which
// still matches, with one that never can.
func TestStalePassReplacesCurrentSet(t *testing.T) {
	h, g := twoQuietPolicies(t)
	h.bumpJournal()
	entered, release := g.hold()
	done := make(chan struct{})
	go func() { defer close(done); h.quietPass("ci") }()
	<-entered
	// The slow pass's set is worked out while its listing waits.
	time.Sleep(50 * time.Millisecond)
	h.bumpJournal()
	h.clock.Add(time.Minute)
	h.quietPass("ci")
	newer := h.cachedSet("ci")
	close(release)
	<-done
	if got := h.cachedSet("ci"); got != newer {
		t.Errorf("the slow pass replaced the ci set of version %d with its own of version %d (journal at %d)",
			newer.stamp.version, got.stamp.version, h.store.Version())
	}
	before := h.cachedSet("ci")
	h.clock.Add(time.Minute)
	h.quietPass("ci")
	if h.cachedSet("ci") != before {
		t.Errorf("the journal unchanged since the last ci pass, the set was worked out again")
	}
}

// TestBusyNeverLeaks: every path of Pass gives back a set it
// reused (a failed listing, a partial listing, an unknown policy,
// overlapping passes of one list), and the cache keeps serving.
func TestBusyNeverLeaks(t *testing.T) {
	h, g := twoQuietPolicies(t)
	busy := func() int {
		h.engine.mu.Lock()
		defer h.engine.mu.Unlock()
		return len(h.engine.quietBusy)
	}
	h.api.mu.Lock()
	h.api.failList = fmt.Errorf("boom")
	h.api.mu.Unlock()
	if _, err := h.engine.Pass(context.Background(), []string{"ci"}, Options{}); err == nil {
		t.Fatal("want the listing's error")
	}
	h.api.mu.Lock()
	h.api.failList = nil
	h.api.mu.Unlock()
	if n := busy(); n != 0 {
		t.Fatalf("after a failed listing %d sets stay busy", n)
	}
	h.api.mu.Lock()
	h.api.unlisted = map[string]bool{h.own: true}
	h.api.mu.Unlock()
	if _, err := h.engine.Pass(context.Background(), []string{"ci"}, Options{}); err == nil {
		t.Fatal("want the partial listing refused")
	}
	h.api.mu.Lock()
	h.api.unlisted = nil
	h.api.mu.Unlock()
	if n := busy(); n != 0 {
		t.Fatalf("after a partial listing %d sets stay busy", n)
	}
	if _, err := h.engine.Pass(context.Background(), []string{"ci", "nope"}, Options{}); err == nil {
		t.Fatal("want unknown policy refused")
	}
	// Overlapping passes of one list: one reuses, the other works its own.
	ci := h.cachedSet("ci")
	entered, release := g.hold()
	done := make(chan struct{})
	go func() { defer close(done); h.quietPass("ci") }()
	<-entered
	time.Sleep(20 * time.Millisecond)
	h.quietPass("ci") // the set is busy: this one works its own
	h.engine.mu.Lock()
	if !h.engine.quietBusy["ci"] || h.engine.quiet["ci"] != ci {
		t.Error("the cached set is not held by the slow pass, or was replaced while busy")
	}
	h.engine.mu.Unlock()
	close(release)
	<-done
	if n := busy(); n != 0 {
		t.Fatalf("%d sets stay busy", n)
	}
	h.clock.Add(time.Minute)
	h.quietPass("ci")
	if h.cachedSet("ci") != ci {
		t.Error("the cache stopped serving ci")
	}
}

// TestQuietSetsBoundedByPolicyLists: many passes over every list of policies,
// toggled options and reloads leave no more sets than lists in use.
func TestQuietSetsBoundedByPolicyLists(t *testing.T) {
	h, _ := twoQuietPolicies(t)
	lists := [][]string{nil, {"ci"}, {"ops"}, {"ci", "ops"}, {"ops", "ci"}}
	for i := range 30 {
		h.clock.Add(time.Minute)
		opts := Options{IgnoreBackoff: i%2 == 0, IgnoreWindows: i%3 == 0}
		if _, err := h.engine.Pass(context.Background(), lists[i%len(lists)], opts); err != nil {
			t.Fatal(err)
		}
		if i%7 == 0 {
			if err := h.engine.SetPolicies(h.engine.policies0()); err != nil {
				t.Fatal(err)
			}
		}
		if i%5 == 0 {
			h.bumpJournal()
		}
		h.engine.mu.Lock()
		n, b := len(h.engine.quiet), len(h.engine.quietBusy)
		h.engine.mu.Unlock()
		if n > 3 || b != 0 {
			t.Fatalf("pass %d: %d sets cached, %d busy", i, n, b)
		}
	}
}
