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
	h.engine = New(Config{API: api, Store: h.store, Logger: h.engine.log, Recorder: h.rec, Now: h.clock.Now, OwnKeyID: h.own, Concurrency: 1})
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

// The claims live while a pass is under way, and go with the last one:
// the journal holds what each claim led to, and a name whose rotation
// failed before any write holds no target for good.
func TestTargetClaimsGoWithTheLastPass(t *testing.T) {
	h, _, _, _ := clashHarness(t)
	c := h.engine.claims
	c.enter()
	c.enter()
	if err := h.engine.claimTargets((*passWork)(nil).targetsOf(h.engine), h.policy, "ci-a"); err != nil {
		t.Fatal(err)
	}
	c.leave()
	if err := h.engine.claimTargets((*passWork)(nil).targetsOf(h.engine), h.policy, "ci-a.docker"); err == nil {
		t.Fatal("ci-a.docker: claimed a target ci-a claimed while a pass is still under way")
	}
	c.leave()
	if c.claimed != nil || c.users != 0 {
		t.Fatalf("after the last pass: %d users, %d claims; want none", c.users, len(c.claimed))
	}
	c.enter()
	defer c.leave()
	if err := h.engine.claimTargets((*passWork)(nil).targetsOf(h.engine), h.policy, "ci-a.docker"); err != nil {
		t.Fatalf("ci-a.docker, once no pass is under way and nothing was written: %v", err)
	}
}
