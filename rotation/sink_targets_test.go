package rotation

// Found by the review of this round's fixes (ba49272..ff1012e): each test
// failed before its fix and states what was observed.

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/secret"
	"github.com/rotatord/rotatord/sinks"
	"github.com/rotatord/rotatord/state"
)

// bareLyingCreate answers a create with the id of an existing key of
// another name, and no name and no role in the answer (fields a lying or
// mixed-up server can leave out; the decoder gives "").
type bareLyingCreate struct {
	*fakeAPI
	answerID string
}

func (l *bareLyingCreate) CreateKey(ctx context.Context, name, roleID string) (apiclient.CreatedKey, error) {
	return apiclient.CreatedKey{Key: apiclient.Key{ID: l.answerID}, Secret: secret.Value("forged-secret-0123456789")}, nil
}

// checkCreated only refuses ids listed under the name being rotated
// (known = j.all, the name's keys): the id of another name's key in an
// answer that omits name and role is taken as the new key. The first sink
// fails, the rollback (dropNewKey, check=false) deletes that key.
func TestCreateAnswerWithoutNameNamingAnotherNamesKey(t *testing.T) {
	h := newHarness(t, 0)
	victim := h.api.add("prod-db", roleCI) // matched by no policy
	h.api.add("ci-runner", roleCI)
	h.pass(Options{})
	h.useAPI(&bareLyingCreate{fakeAPI: h.api, answerID: victim})
	h.sinkA.failWrite = errors.New("disk full")
	h.engine.Pass(context.Background(), []string{"ci"}, Options{Force: true})
	if live := h.api.live("prod-db"); len(live) != 1 || live[0] != victim {
		t.Errorf("prod-db's key %s was deleted by ci-runner's rollback (live: %v, deleted: %v)", victim, live, h.api.deleted)
	}
}

// A sink removed from the policy: the name's record keeps its target in
// Delivered for good (nothing prunes Delivered), and the target index
// counts it as the name's: a new name whose target under the remaining
// sinks is that stale target is refused forever, though no name writes
// there any more.
func TestRemovedSinkKeepsOwningItsTargetForever(t *testing.T) {
	h, env, docker, _ := clashHarness(t)
	h.api.add("ci-a", roleCI)
	h.pass(Options{Force: true})

	// The operator drops the docker sink (no rotation in flight).
	h.policy.Sinks = []sinks.Sink{env}
	if err := h.engine.SetPolicies([]Policy{h.policy}); err != nil {
		t.Fatal(err)
	}
	for range 3 { // ci-a rotates under the new sinks, several times
		h.pass(Options{Force: true, IgnoreBackoff: true})
	}
	h.api.add("ci-a.docker", roleCI)
	out := h.pass(Options{Force: true, IgnoreBackoff: true})
	if o := findOutcome(out, "ci-a.docker"); o.Err != nil {
		t.Errorf("ci-a.docker: %v\nwant it rotated: ci-a's record still claims %s, a target of a sink the policy no longer has (Delivered: %v)",
			o.Err, docker.Target("ci-a"), h.record("ci-a").Delivered)
	}
}

// countingJournal counts the walks of the journal that build a target index.
type countingJournal struct {
	*state.Store
	walks atomic.Int64
}

func (c *countingJournal) Each(policy string, fn func(r *state.Record)) {
	c.count()
	c.Store.Each(policy, fn)
}

func (c *countingJournal) List(policy string) []state.Record {
	c.count()
	return c.Store.List(policy)
}

// count counts the walks made to build a target index.
func (c *countingJournal) count() {
	buf := make([]byte, 1<<16)
	if strings.Contains(string(buf[:runtime.Stack(buf, false)]), "buildTargetIndex") {
		c.walks.Add(1)
	}
}

func (h *harness) indexWalks() *countingJournal {
	var cj *countingJournal
	h.wrap = func(j state.Journal) state.Journal {
		cj = &countingJournal{Store: j.(*state.Store)}
		return cj
	}
	h.newEngine()
	return cj
}

// An adopted key (adopt: keep, the default) has no delivery on record
// until its first rotation: every pass handles its name (it is no quiet
// candidate) and syncSinks finds every sink "missing", so claimTargets
// builds the pass's target index (a walk of every record of every policy
// and a sort) on a pass with nothing to do, before copyOf reads the sinks.
// With 10,000 adopted names, every scheduled pass until max_age builds it.
func TestNoOpPassOverAdoptedNamesBuildsTargetIndex(t *testing.T) {
	h := newHarness(t, 0)
	cj := h.indexWalks()
	for i := range 200 {
		h.api.add(fmt.Sprintf("ci-%04d", i), roleCI)
	}
	h.pass(Options{})
	h.pass(Options{})
	before := cj.walks.Load()
	out := h.pass(Options{})
	for _, o := range out {
		if o.Err != nil || o.Decision.Action != ActionNone && o.Decision.Action != ActionSkip {
			t.Fatalf("setup: %s: %+v %v, want nothing to do", o.Name, o.Decision, o.Err)
		}
	}
	if n := cj.walks.Load() - before; n != 0 {
		t.Errorf("a pass with nothing to do built the target index (%d journal walks, from syncSinks)", n)
	}
}

// A name with keys of two roles that no sink holds (ReasonRolesUnknown)
// is a steady state: every pass handles it, and adoptFromSinks claims its
// targets (claimTargets) before it reads any sink, which builds the pass's
// target index: a walk of every record of every policy, on a pass where
// nothing is to be done (all other names delivered and quiet).
func TestNoOpPassBuildsTargetIndexForRolesUnknownName(t *testing.T) {
	h := newHarness(t, 0)
	cj := h.indexWalks()
	for i := range 200 {
		h.api.add(fmt.Sprintf("ci-%04d", i), roleCI)
	}
	h.pass(Options{Force: true}) // every name rotated: delivered, quiet from now on
	h.api.add("ci-mixed", roleCI)
	h.api.add("ci-mixed", "other-role")
	h.pass(Options{})
	h.pass(Options{})
	before := cj.walks.Load()
	out := h.pass(Options{})
	if o := findOutcome(out, "ci-mixed"); o.Decision.Reason != ReasonRolesUnknown {
		t.Fatalf("ci-mixed: %+v, want %q", o.Decision, ReasonRolesUnknown)
	}
	if n := cj.walks.Load() - before; n != 0 {
		t.Errorf("a pass with nothing to do built the target index (%d journal walks, from adoptFromSinks' claim for ci-mixed)", n)
	}
}

// The dropped-sink refusal (droppedSinks) is applied to reloads only: the
// same config change applied by a restart (edit the file, `systemctl
// restart`; `validate` passes too, CheckStranded does not look at sinks)
// is taken, and the next pass rolls the rotation back and deletes the new
// key that the dropped sink's consumer holds. fakeAPI.DeleteKey reports
// the OUTAGE (sink a, dropped from the policy, holds the key deleted).
func TestRestartDroppingTheSinkThatHoldsTheNewKey(t *testing.T) {
	h := newHarness(t, time.Hour)
	h.api.add("ci-runner", roleCI)
	h.pass(Options{})
	h.sinkB.failWrite = errors.New("vault sealed")
	h.pass(Options{Force: true})
	rec := h.record("ci-runner")
	if rec.Rotation == nil || rec.Rotation.Phase != state.PhaseCreated {
		t.Fatalf("setup: rotation %+v, want one in phase created", rec.Rotation)
	}
	newKey := rec.Rotation.NewKeyID
	if got := h.sinkA.held["ci-runner"]; got.KeyID != newKey {
		t.Fatalf("setup: sink a holds %s, want the new key %s", got.KeyID, newKey)
	}
	// Reload: refused (the fix).
	p2 := h.policy
	p2.Sinks = toSinks(h.sinkB)
	if err := h.engine.CheckLocked(Install{Policies: []Policy{p2}}); err == nil {
		t.Log("note: reload not refused either")
	}
	// Restart with the same change.
	h.sinkB.failWrite = nil
	h.policy = p2
	h.newEngine()
	h.pass(Options{IgnoreBackoff: true})
	if slices.Contains(h.api.deleted, newKey) {
		t.Errorf("restart with sink a dropped: new key %s deleted while sink a (its consumer's file) holds it", newKey)
	}
}
