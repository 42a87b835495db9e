package rotation

import (
	"context"
	"fmt"
	"github.com/rotatord/rotatord/state"
	"strings"
	"testing"
	"time"

	"github.com/rotatord/rotatord/sinks"
)

// the README's rename with take_over. The victim ci-a.docker (env
// file dir/ci-a.docker.env) also has a key of another role, managed by a
// policy in force ("aa-other"). Any record in force of the victim makes
// ownerOf ignore its stale "ci" record, so after the rename the hostile
// ci-a (docker file dir/ci-a.docker.env, sorted first) takes the victim's
// file before the victim's ci-keys record exists.
// Found by review (it failed at 2c7e274).
func TestARenamedVictimWithASecondRoleKeepsItsTargets(t *testing.T) {
	h := newHarness(t, 0)
	dir := t.TempDir()
	env, docker := pairOfSinks(t, dir, "ci", false)
	other := otherRolePolicy()
	ci := h.policy
	ci.Match = func(name, role string) bool { return strings.HasPrefix(name, "ci-") && role == roleCI }
	ci.Sinks = []sinks.Sink{env, docker}
	ci.AdoptRotate = true
	h.policy = ci
	h.newEngine()
	if err := h.engine.SetPolicies([]Policy{other, ci}); err != nil {
		t.Fatal(err)
	}
	h.api.add("ci-a.docker", roleCI)
	h.api.add("ci-a.docker", roleOther) // the victim's second role (the attacker may make it too)
	for _, o := range h.pass(Options{Force: true}) {
		if o.Err != nil {
			t.Fatalf("%s/%s: %v", o.Policy, o.Name, o.Err)
		}
	}
	h.api.add("ci-a", roleCI) // hostile
	if o := findOutcome(h.pass(Options{Force: true}), "ci-a"); o.Err == nil {
		t.Fatal("setup: ci-a not refused before the rename")
	}

	renamed := ci
	renamed.Name = "ci-keys"
	env2, docker2 := pairOfSinks(t, dir, "ci-keys", true)
	renamed.Sinks = []sinks.Sink{env2, docker2}
	if err := h.engine.SetPolicies([]Policy{other, renamed}); err != nil {
		t.Fatal(err)
	}
	h.engine.Reconfigure(h.api, h.own, 1) // the pass's order: ci-a before ci-a.docker
	out := h.pass(Options{})
	var hostile Outcome
	for _, o := range out {
		if o.Policy == "ci-keys" && o.Name == "ci-a" {
			hostile = o
		}
	}
	victim, _ := h.store.Get("ci-keys", "ci-a.docker")
	got, err := env2.Read(context.Background(), "ci-a.docker")
	if err != nil || got.KeyID != victim.CurrentKeyID || hostile.Err == nil {
		t.Errorf("after the rename %s/ci-a.docker.env holds %s (err %v), want the victim's key %s; hostile ci-a: %v (want refused); hostile's key on record: %s",
			dir, got.KeyID, err, victim.CurrentKeyID, hostile.Err, func() string { r, _ := h.store.Get("ci-keys", "ci-a"); return r.CurrentKeyID }())
	}
}

// the same root cause as above, through a claim: ci-a has a record
// in force under another policy (another role, which does not render the
// target); a pass under way claims dir/ci-a.docker.env for ci-a under ci
// before ci-a's ci record is written (syncSinks and adoptFromSinks claim
// before the Put). ownerOf sees "a record in force" (aa-other's), finds
// no delivery there and ignores the claim: ci-a.docker is let through.
// Found by review (it failed at 2c7e274).
func TestAClaimCountsWhateverRecordsInForceTheNameHas(t *testing.T) {
	h, _, docker, _ := clashHarness(t)
	p := h.policy
	p.Match = func(name, role string) bool { return strings.HasPrefix(name, "ci-") && role == roleCI }
	other := otherRolePolicy()
	if err := h.engine.SetPolicies([]Policy{other, p}); err != nil {
		t.Fatal(err)
	}
	if err := h.store.Put(stateRecord("aa-other", "ci-a", roleOther, "EXOother")); err != nil {
		t.Fatal(err)
	}
	if err := claimWhileAPassRuns(t, h, p, "ci-a", "ci-a.docker"); err == nil {
		t.Errorf("ci-a.docker allowed to write %s, which a pass under way claimed for ci-a", docker.Target("ci-a"))
	}
}

// every refused name walks the whole journal again (ownerOf, under
// the claims' mutex and the journal's lock): names are attacker-chosen,
// so N hostile names cost N walks of the journal per forced pass (or per
// backoff expiry), O(N x records).
// Found by review (performance; it failed at 2c7e274).
func TestRefusedNamesDoNotWalkTheJournalEach(t *testing.T) {
	h, _, _, _ := clashHarness(t)
	reads := &wholeJournalReads{}
	h.wrap = func(j state.Journal) state.Journal { reads.Journal = j; return reads }
	h.newEngine()
	const n = 100
	for i := range n {
		h.api.add(fmt.Sprintf("ci-%05d", i), roleCI)
	}
	h.pass(Options{Force: true})
	for i := range n {
		h.api.add(fmt.Sprintf("ci-%05d.docker", i), roleCI)
	}
	h.pass(Options{Force: true}) // the hostile names' first refusal
	reads.n.Store(0)
	out := h.pass(Options{Force: true, IgnoreBackoff: true})
	refused := 0
	for _, o := range out {
		if strings.HasSuffix(o.Name, ".docker") && o.Err != nil {
			refused++
		}
	}
	if refused != n {
		t.Fatalf("%d hostile names refused, want %d", refused, n)
	}
	// A few reads a pass whatever the refusals (the old records' keys,
	// the index, the names for the errors), not one a refused name.
	if got := reads.n.Load(); got > 4 {
		t.Errorf("a pass that refused %d names read the whole journal %d times", n, got)
	}
}

// the stale record's "name has keys" test counts keys of any role.
// After the rename, ci-a (roleCI) is retired and ci-keys forgets it; a key
// named ci-a of a role no policy matches (anyone may make one) keeps the
// old "ci" record's targets ci-a's for good: the legitimate ci-a.docker
// is refused, naming a name no policy manages and no consumer reads.
// Found by review (it failed at 2c7e274).
func TestAnUnmanagedKeyDoesNotKeepARetiredNamesTargets(t *testing.T) {
	h, dir, _, _ := pairHarness(t, 0)
	h.policy.Match = func(name, role string) bool { return strings.HasPrefix(name, "ci-") && role == roleCI }
	h.newEngine()
	h.rotatedUnderBothNamesThenRetired(dir)
	h.api.add("ci-a", "44444444-4444-4444-4444-444444444444") // no policy matches this role
	h.api.add("ci-a.docker", roleCI)
	h.rotatesEveryPass("ci-a.docker", "though no policy manages ci-a")
}

// The deleter's round has no listing, so there a retired name's old
// record counts (a hostile catch-up must not get through, review); a
// catch-up it refuses for a legitimate name is finished by the next pass,
// which has a listing, and the old key goes.
func TestACatchUpTheDeleterRefusesIsFinishedByAPass(t *testing.T) {
	h, dir, _, _ := pairHarness(t, time.Hour)
	h.api.add("ci-a", roleCI)
	if o := findOutcome(h.pass(Options{Force: true}), "ci-a"); o.Err != nil {
		t.Fatal(o.Err)
	}
	renamed := h.policy
	renamed.Name = "ci-keys"
	env2, docker2 := pairOfSinks(t, dir, "ci-keys", true)
	renamed.Sinks = []sinks.Sink{env2, docker2}
	h.clock.Add(2 * time.Hour)
	h.engine.DeleteDue(context.Background())
	if err := h.engine.SetPolicies([]Policy{renamed}); err != nil {
		t.Fatal(err)
	}
	if o := findOutcome(h.pass(Options{Force: true}), "ci-a"); o.Err != nil {
		t.Fatal(o.Err)
	}
	h.clock.Add(2 * time.Hour)
	h.engine.DeleteDue(context.Background())
	h.deleteKeysOf("ci-a")
	for range 4 {
		h.pass(Options{})
		h.clock.Add(2 * time.Hour)
	}
	if _, ok := h.store.Get("ci-keys", "ci-a"); ok {
		t.Fatal("setup: ci-keys still has a record of ci-a")
	}
	h.api.add("ci-a.docker", roleCI)
	if o := findOutcome(h.pass(Options{Force: true}), "ci-a.docker"); o.Err != nil {
		t.Fatalf("ci-a.docker: %v", o.Err)
	}
	// A sink added in the grace period: the deleter's catch-up writes it.
	renamed.Sinks = append(renamed.Sinks, newMemSink("c"))
	if err := h.engine.SetPolicies([]Policy{renamed}); err != nil {
		t.Fatal(err)
	}
	h.clock.Add(2 * time.Hour)
	h.engine.DeleteDue(context.Background()) // may refuse: no listing
	h.clock.Add(time.Hour)
	o := findOutcome(h.pass(Options{IgnoreBackoff: true}), "ci-a.docker")
	r, _ := h.store.Get("ci-keys", "ci-a.docker")
	if o.Err != nil || r.Rotation != nil || len(h.api.live("ci-a.docker")) != 1 {
		t.Errorf("a pass after the round: err %v, rotation in flight %v, live keys %v; want the catch-up and the deletion done",
			o.Err, r.Rotation != nil, h.api.live("ci-a.docker"))
	}
}

// otherRolePolicy is a policy aa-other for the ci- names' keys of role
// roleOther, with a sink of its own: a second record for a name.
func otherRolePolicy() Policy {
	return Policy{
		Name:        "aa-other",
		Match:       func(name, role string) bool { return strings.HasPrefix(name, "ci-") && role == roleOther },
		MaxAge:      24 * time.Hour,
		AdoptRotate: true,
		Sinks:       toSinks(newMemSink("p")),
	}
}

// claimWhileAPassRuns has a pass under way claim p's targets for name
// first, then another pass claim them for second, and returns the second
// claim's error.
func claimWhileAPassRuns(t *testing.T, h *harness, p Policy, first, second string) error {
	t.Helper()
	c := h.engine.claims
	running := c.enter()
	t.Cleanup(func() { c.leave(running) })
	if err := h.engine.claimTargets(&targetOwners{claims: c, pass: running}, p, first); err != nil {
		t.Fatal(err)
	}
	later := c.enter()
	t.Cleanup(func() { c.leave(later) })
	return h.engine.claimTargets(&targetOwners{claims: c, pass: later}, p, second)
}
