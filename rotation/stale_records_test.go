package rotation

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rotatord/rotatord/sinks"
	"github.com/rotatord/rotatord/sinks/file"
	"github.com/rotatord/rotatord/state"
)

func pairOfSinks(t *testing.T, dir, policy string, takeOver bool) (env, docker sinks.Sink) {
	mk := func(suffix string) sinks.Sink {
		return fileSinkWith(t, dir+"/{{.Name}}"+suffix, file.Options{Format: file.FormatEnv, Policy: policy, TakeOver: takeOver})
	}
	return mk(".env"), mk(".docker.env")
}

// renameToCIKeys renames h's policy ci to ci-keys, as the README says
// (the same sinks, with take_over), and returns the renamed policy.
func (h *harness) renameToCIKeys(dir string) Policy {
	h.t.Helper()
	renamed := h.policy
	renamed.Name = "ci-keys"
	env, docker := pairOfSinks(h.t, dir, "ci-keys", true)
	renamed.Sinks = []sinks.Sink{env, docker}
	if err := h.engine.SetPolicies([]Policy{renamed}); err != nil {
		h.t.Fatal(err)
	}
	return renamed
}

// retire deletes name's keys and passes until the policy in force forgets
// the name.
func (h *harness) retire(policy, name string) {
	h.t.Helper()
	h.deleteKeysOf(name)
	for range 4 {
		h.pass(Options{})
		h.clock.Add(2 * time.Hour)
	}
	if _, ok := h.store.Get(policy, name); ok {
		h.t.Fatalf("setup: %s still has a record of %s", policy, name)
	}
}

// rotatedUnderBothNamesThenRetired adds ci-a, rotates it under ci, renames
// ci to ci-keys and rotates it there, then decommissions it (its keys
// deleted, ci-keys forgets it): ci keeps its old record of ci-a.
func (h *harness) rotatedUnderBothNamesThenRetired(dir string) {
	h.t.Helper()
	h.api.add("ci-a", roleCI)
	for _, rename := range []bool{false, true} {
		if rename {
			h.renameToCIKeys(dir)
		}
		if o := findOutcome(h.pass(Options{Force: true}), "ci-a"); o.Err != nil {
			h.t.Fatal(o.Err)
		}
	}
	h.retire("ci-keys", "ci-a")
}

func (h *harness) deleteKeysOf(name string) {
	h.api.mu.Lock()
	defer h.api.mu.Unlock()
	for id, k := range h.api.keys {
		if k.Name == name {
			delete(h.api.keys, id)
		}
	}
}

// Found by review: after the README's rename (ci -> ci-keys, take_over), the old
// policy's records stay forever (nothing handles them). Once a name (ci-a)
// is gone for good, its record under ci-keys is forgotten, but its stale
// record under "ci" still owns ci-a's targets through the new ownerOf (ci-keys
// matches "ci-a" and renders them): a legitimate new name rendering one of
// those targets is refused for good, naming a key name that has no key.
func TestARetiredNamesOldPolicyRecordHoldsNoTarget(t *testing.T) {
	h, dir, _, _ := pairHarness(t, 0)
	h.rotatedUnderBothNamesThenRetired(dir)
	if _, ok := h.store.Get("ci", "ci-a"); !ok {
		t.Fatal("setup: the old policy's record of ci-a is gone")
	}
	// A new, legitimate name whose env file is dir/ci-a.docker.env.
	h.api.add("ci-a.docker", roleCI)
	h.rotatesEveryPass("ci-a.docker", "though ci-a has no key and no record in force")
}

// Control: the same without the rename: ci-a's record is forgotten and
// ci-a.docker rotates.
func TestARetiredNamesTargetIsFreeWithoutARename(t *testing.T) {
	h, _, _, _ := pairHarness(t, 0)
	h.api.add("ci-a", roleCI)
	if o := findOutcome(h.pass(Options{Force: true}), "ci-a"); o.Err != nil {
		t.Fatal(o.Err)
	}
	h.deleteKeysOf("ci-a")
	for range 4 {
		h.pass(Options{})
		h.clock.Add(2 * time.Hour)
	}
	h.api.add("ci-a.docker", roleCI)
	if o := findOutcome(h.pass(Options{Force: true}), "ci-a.docker"); o.Err != nil {
		t.Errorf("ci-a.docker: %v", o.Err)
	}
}

// Found by review: after a rename whose new
// policy dropped the docker sink, ci-a gives dir/ci-a.docker.env up and
// ci-a.docker takes it. When the docker sink comes back, README says "the
// name that took the target keeps it, and the other one is refused"; but
// ci-a's record under the removed policy "ci" is never pruned (no pass
// handles it) and keeps owning the target: ci-a.docker, which holds it, is
// refused too, for good.
func TestTheNameThatTookATargetKeepsItAfterARename(t *testing.T) {
	h, dir, _, _ := pairHarness(t, 0)
	h.api.add("ci-a", roleCI)
	if o := findOutcome(h.pass(Options{Force: true}), "ci-a"); o.Err != nil {
		t.Fatal(o.Err)
	}
	renamed := h.policy
	renamed.Name = "ci-keys"
	env2, docker2 := pairOfSinks(t, dir, "ci-keys", true)
	renamed.Sinks = []sinks.Sink{env2} // docker dropped
	if err := h.engine.SetPolicies([]Policy{renamed}); err != nil {
		t.Fatal(err)
	}
	if o := findOutcome(h.pass(Options{Force: true}), "ci-a"); o.Err != nil {
		t.Fatal(o.Err)
	}
	h.api.add("ci-a.docker", roleCI)
	if o := findOutcome(h.pass(Options{Force: true}), "ci-a.docker"); o.Err != nil {
		t.Fatalf("ci-a.docker on a target given up: %v", o.Err)
	}
	renamed.Sinks = []sinks.Sink{env2, docker2} // the sink is back
	if err := h.engine.SetPolicies([]Policy{renamed}); err != nil {
		t.Fatal(err)
	}
	h.pass(Options{})
	h.clock.Add(48 * time.Hour)
	h.rotatesEveryPass("ci-a.docker", "though it took and holds the target")
	h.assertNoSecretLeak()
}

// Found by review: a claim by a pass under way used to count
// whenever its name had no record in a policy in force; now any record of
// the name, of a removed policy too, makes "found" true, and if that record
// does not lead to a policy in force rendering the target (here: another
// role, which the policy in force does not match), the claim is ignored:
// a second name writes the target the first name's rotation is writing.
func TestAClaimCountsWhateverOldRecordsTheNameHas(t *testing.T) {
	h, _, docker, _ := clashHarness(t)
	p := h.policy
	p.Match = func(name, role string) bool { return strings.HasPrefix(name, "ci-") && role == roleCI }
	if err := h.engine.SetPolicies([]Policy{p}); err != nil {
		t.Fatal(err)
	}
	// ci-a once had a key of another role, managed by a policy since removed.
	if err := h.store.Put(state.Record{Policy: "legacy", Name: "ci-a", RoleID: "other-role", CurrentKeyID: "EXOold"}); err != nil {
		t.Fatal(err)
	}
	// A pass under way handles ci-a (new under ci, role roleCI): it claims
	// its targets, dir/ci-a.docker.env among them, and writes them. Another
	// pass, meanwhile: ci-a.docker's env file is that target.
	err := claimWhileAPassRuns(t, h, p, "ci-a", "ci-a.docker")
	if err == nil {
		t.Errorf("ci-a.docker allowed to write %s, which a pass under way claimed for ci-a", docker.Target("ci-a"))
	}
	_ = context.Background
}

// pairHarness is a harness whose policy ci (adopt: rotate) writes
// pairOfSinks in a directory of its own.
func pairHarness(t *testing.T, grace time.Duration) (h *harness, dir string, env, docker sinks.Sink) {
	t.Helper()
	h = newHarness(t, grace)
	dir = t.TempDir()
	env, docker = pairOfSinks(t, dir, "ci", false)
	h.policy.Sinks = []sinks.Sink{env, docker}
	h.policy.AdoptRotate = true
	h.newEngine()
	return h, dir, env, docker
}

// rotatesEveryPass checks that name rotates in three forced passes, two
// days apart; why says what would make a refusal wrong.
func (h *harness) rotatesEveryPass(name, why string) {
	h.t.Helper()
	for i := range 3 {
		if o := findOutcome(h.pass(Options{Force: true, IgnoreBackoff: true}), name); o.Err != nil {
			h.t.Errorf("pass %d: %s refused %s: %v", i, name, why, o.Err)
		}
		h.clock.Add(48 * time.Hour)
	}
}
