package rotation

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient"
)

// listingFilter shows, in each listing, only the names it is told to (and
// rotatord's own key): listings taken at different moments, by two passes.
type listingFilter struct {
	*fakeAPI
	own   string
	mu    sync.Mutex
	names []string
}

func (l *listingFilter) show(names ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.names = names
}

func (l *listingFilter) ListKeys(ctx context.Context) ([]apiclient.Key, error) {
	keys, err := l.fakeAPI.ListKeys(ctx)
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.DeleteFunc(keys, func(k apiclient.Key) bool {
		return k.Name != l.own && !slices.Contains(l.names, k.Name)
	}), err
}

// Two passes at once (the pass at start and a cron tick) each read the
// journal once for the targets' owners. A pass that read it before another
// pass's new name claimed a target and delivered there must still see that
// claim: else its own new name, rendering the same target, overwrites the
// other name's credential (found by review: the claims were per pass).
func TestTwoPassesAtOnceSeeEachOthersClaims(t *testing.T) {
	h, env, _, dir := clashHarness(t)
	h.api.add("blk-0", roleCI)
	h.api.add("ci-a", roleCI)        // its docker file is dir/ci-a.docker.env
	h.api.add("ci-a.docker", roleCI) // its env file is the same
	api := &listingFilter{fakeAPI: h.api, own: "rotatord-admin"}
	h.policy.Match = func(name, role string) bool { return strings.HasPrefix(name, "ci-") }
	// The first pass's first job: a policy sorted before ci, on a name of
	// its own (the second pass must not wait for its lock).
	blocker := Policy{
		Name:        "blk",
		Match:       func(name, role string) bool { return strings.HasPrefix(name, "blk-") },
		MaxAge:      24 * time.Hour,
		AdoptRotate: true,
		Sinks:       toSinks(newMemSink("blk")),
	}
	h.engine = New(Config{API: api, Store: h.store, Logger: h.engine.log, Recorder: h.rec, Now: h.clock.Now, Sleep: h.clock.Sleep, OwnKeyID: h.own, Concurrency: 1})
	if err := h.engine.SetPolicies([]Policy{blocker, h.policy}); err != nil {
		t.Fatal(err)
	}

	// The first pass lists blk-0 and ci-a, claims blk-0's target (reading
	// the journal, empty of ci's names) and waits in blk-0's create.
	entered, release := make(chan struct{}), make(chan struct{})
	h.api.mu.Lock()
	h.api.createHook = func(k apiclient.Key) error {
		if k.Name == "blk-0" {
			close(entered)
			<-release
		}
		return nil
	}
	h.api.mu.Unlock()
	api.show("blk-0", "ci-a")
	first := make(chan []Outcome)
	go func() {
		out, err := h.engine.Pass(context.Background(), nil, Options{Force: true})
		if err != nil {
			t.Errorf("first pass: %v", err)
		}
		first <- out
	}()
	<-entered

	// Meanwhile a pass of policy ci lists only ci-a.docker (made since),
	// and rotates it: its env file is dir/ci-a.docker.env.
	api.show("ci-a.docker")
	second, err := h.engine.Pass(context.Background(), []string{"ci"}, Options{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if o := findOutcome(second, "ci-a.docker"); o.Err != nil {
		t.Fatalf("ci-a.docker: %v", o.Err)
	}
	holder := h.current("ci-a.docker")

	close(release)
	out := <-first
	if o := findOutcome(out, "blk-0"); o.Err != nil {
		t.Errorf("blk-0: %v", o.Err)
	}
	if o := findOutcome(out, "ci-a"); o.Err == nil || !strings.Contains(o.Err.Error(), dir+"/ci-a.docker.env") {
		t.Errorf("ci-a: %v, want refused for target %s", o.Err, dir+"/ci-a.docker.env")
	}
	if got, err := env.Read(context.Background(), "ci-a.docker"); err != nil || got.KeyID != holder {
		t.Errorf("dir/ci-a.docker.env holds %s (err %v), want ci-a.docker's key %s", got.KeyID, err, holder)
	}
	h.assertNoSecretLeak()
}

// A claim lives while its pass runs, and after it while a pass that was
// under way when it ended still runs (that pass read the journal before
// the claim's write); then it goes. A name whose rotation failed before
// any write holds no target for good.
func TestTargetClaimsOutliveTheirPassWhileAnOlderPassRuns(t *testing.T) {
	h, _, _, _ := clashHarness(t)
	e, c := h.engine, h.engine.claims
	claim := func(pass uint64, name string) error {
		return e.claimTargets(&targetOwners{claims: c, pass: pass}, h.policy, name)
	}
	older := c.enter()
	claimant := c.enter()
	if err := claim(claimant, "ci-a"); err != nil {
		t.Fatal(err)
	}
	c.leave(claimant)
	if err := claim(older, "ci-a.docker"); err == nil {
		t.Fatal("ci-a.docker: claimed a target ci-a claimed, in a pass under way when ci-a's ended")
	}
	later := c.enter() // reads the journal after ci-a's pass ended
	if len(c.claimed) == 0 {
		t.Fatal("the claims went while the older pass runs")
	}
	c.leave(older)
	if len(c.claimed) != 0 {
		t.Fatalf("%d claims left once every pass under way when they ended is done, want none", len(c.claimed))
	}
	if err := claim(later, "ci-a.docker"); err != nil {
		t.Fatalf("ci-a.docker, once ci-a's claim (nothing written) is gone: %v", err)
	}
	c.leave(later)
	if c.claimed != nil || len(c.running) != 0 {
		t.Fatalf("after the last pass: %d running, %d claims; want none", len(c.running), len(c.claimed))
	}
}

// A name with keys of two roles has a record under two policies; its
// target is its own through the second policy's sinks, whatever the first
// policy's (found by review: the owner's first record alone was asked).
func TestTargetOwnedThroughTheSecondPolicyOfTheName(t *testing.T) {
	h, _, docker, dir := clashHarness(t)
	other := Policy{ // sorted first: its record of ci-a is found first
		Name:        "aa-other-role",
		Match:       func(name, role string) bool { return strings.HasPrefix(name, "ci-") && role == roleOther },
		MaxAge:      24 * time.Hour,
		AdoptRotate: true,
		Sinks:       toSinks(newMemSink("p")),
	}
	ci := h.policy
	ci.Match = func(name, role string) bool { return strings.HasPrefix(name, "ci-") && role == roleCI }
	if err := h.engine.SetPolicies([]Policy{other, ci}); err != nil {
		t.Fatal(err)
	}
	h.api.add("ci-a", roleCI)
	h.api.add("ci-a", roleOther)
	for _, o := range h.pass(Options{Force: true}) {
		if o.Err != nil {
			t.Fatalf("%s/%s: %v", o.Policy, o.Name, o.Err)
		}
	}
	h.api.add("ci-a.docker", roleCI) // its env file is ci-a's docker file
	out := h.pass(Options{Force: true})
	var hostile Outcome
	for _, o := range out {
		if o.Policy == "ci" && o.Name == "ci-a.docker" {
			hostile = o
		}
	}
	got, err := docker.Read(context.Background(), "ci-a")
	if hostile.Err == nil || err != nil || got.KeyID != h.current("ci-a") {
		t.Errorf("ci-a.docker: %v; %s/ci-a.docker.env holds %s (err %v), want ci-a's key %s", hostile.Err, dir, got.KeyID, err, h.current("ci-a"))
	}
}

// A claim does not outrank the journal, nor the journal a claim: when a
// record gives a target to one name and a pass under way claimed it for
// another (a claim that led to no write, kept while an older pass runs),
// both names are refused until the claim goes (found by review: the
// claimant, asking again, found its own claim first and overwrote the
// journal owner's credential).
func TestAClaimAndARecordOfTwoNamesRefuseBoth(t *testing.T) {
	h, _, docker, dir := clashHarness(t)
	h.api.add("ci-a", roleCI)
	h.pass(Options{Force: true}) // ci-a's record: dir/ci-a.docker.env
	c := h.engine.claims
	claimFor := func(pass uint64, name string) error {
		return h.engine.claimTargets(&targetOwners{claims: c, pass: pass}, h.policy, name)
	}
	older := c.enter()
	defer c.leave(older)
	// A claim for ci-a.docker on the same target, as a pass that read the
	// journal before ci-a's delivery would have made it.
	stale := c.enter()
	c.mu.Lock()
	if c.claimed == nil {
		c.claimed = map[uint64]claim{}
	}
	owners := &targetOwners{claims: c}
	h0, _ := owners.targetHash(docker, sinkID(docker, "ci-a"))
	c.claimed[h0] = claim{name: owners.hash("ci-a.docker"), exact: owners.hash(sinkID(docker, "ci-a")), pass: stale}
	c.mu.Unlock()
	c.leave(stale)

	now := c.enter()
	defer c.leave(now)
	if err := claimFor(now, "ci-a.docker"); err == nil || !strings.Contains(err.Error(), `"ci-a"`) {
		t.Errorf("ci-a.docker, holding a claim on the target the journal gives ci-a: %v, want refused naming ci-a", err)
	}
	if err := claimFor(now, "ci-a"); err == nil || !strings.Contains(err.Error(), dir+"/ci-a.docker.env") {
		t.Errorf("ci-a, whose target a pass under way claimed for ci-a.docker: %v, want refused", err)
	}
}
