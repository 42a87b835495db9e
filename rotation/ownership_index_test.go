package rotation

import (
	"strings"
	"sync/atomic"
	"testing"

	"github.com/rotatord/rotatord/sinks"
	"github.com/rotatord/rotatord/state"
)

// hookedReads runs before(n) ahead of the n-th whole-journal read.
type hookedReads struct {
	state.Journal
	n      atomic.Int64
	before func(n int64)
}

func (w *hookedReads) List(policy string) []state.Record {
	if policy == "" {
		n := w.n.Add(1)
		if w.before != nil {
			w.before(n)
		}
	}
	return w.Journal.List(policy)
}

// renameSetup: policy "ci" renamed to "ci-keys" (take_over file sinks
// env and docker). Victim ci-a.docker has only its old "ci" record,
// delivered to dir/ci-a.docker.env with key EXOv, which is listed.
func renameSetup(t *testing.T) (*harness, *hookedReads, Policy, state.Record, state.Record) {
	h := newHarness(t, 0)
	reads := &hookedReads{}
	h.wrap = func(j state.Journal) state.Journal { reads.Journal = j; return reads }
	dir := t.TempDir()
	env, docker := pairOfSinks(t, dir, "ci-keys", true)
	p := h.policy
	p.Name = "ci-keys"
	p.Sinks = []sinks.Sink{env, docker}
	h.policy = p
	h.newEngine()
	sid := sinkID(env, "ci-a.docker")
	old := stateRecord("ci", "ci-a.docker", roleCI, "EXOv")
	old.Delivered.Set(sid, state.Delivery{KeyID: "EXOv"})
	succ := stateRecord("ci-keys", "ci-a.docker", roleCI, "EXOv")
	succ.Delivered.Set(sid, state.Delivery{KeyID: "EXOv"}) // inheritDeliveries
	if err := h.store.Put(old); err != nil {
		t.Fatal(err)
	}
	return h, reads, p, old, succ
}

func listedV(name, id string) bool { return name == "ci-a.docker" && id == "EXOv" }

// Control: the hostile ci-a is refused before and after the victim's
// successor record is written.
func TestAHostileNameIsRefusedEitherSideOfTheSuccession(t *testing.T) {
	for _, withSucc := range []bool{false, true} {
		h, _, p, _, succ := renameSetup(t)
		if withSucc {
			if err := h.store.Put(succ); err != nil {
				t.Fatal(err)
			}
		}
		c := h.engine.claims
		n := c.enter()
		err := h.engine.claimTargets(&targetOwners{claims: c, pass: n, keyListed: listedV}, p, "ci-a")
		c.leave(n)
		if err == nil || !strings.Contains(err.Error(), `"ci-a.docker"`) {
			t.Errorf("successor written=%v: ci-a: %v, want refused naming ci-a.docker", withSucc, err)
		}
	}
}

// buildTargetIndex reads the journal twice (18c597d): the deliveries in
// the first read, the successors in the second. Another pass that writes
// the victim's first ci-keys record in between (it made no claim: its own
// index gave it the target through the old record, recordedFor) leaves
// the target to nobody, and the hostile ci-a is let through.
func TestASuccessorWrittenBetweenTheIndexReadsKeepsItsTargets(t *testing.T) {
	h, reads, p, _, succ := renameSetup(t)
	c := h.engine.claims
	// The other pass: it handles the victim and writes its successor.
	other := c.enter()
	if err := h.engine.claimTargets(&targetOwners{claims: c, pass: other, keyListed: listedV}, p, "ci-a.docker"); err != nil {
		t.Fatal(err)
	}
	mine := c.enter()
	reads.n.Store(0)
	reads.before = func(n int64) {
		if n == 2 { // between the index's two reads
			if err := h.store.Put(succ); err != nil {
				t.Error(err)
			}
		}
	}
	err := h.engine.claimTargets(&targetOwners{claims: c, pass: mine, keyListed: listedV}, p, "ci-a")
	reads.before = nil
	c.leave(other)
	c.leave(mine)
	if err == nil {
		t.Errorf("hostile ci-a allowed to write %s, the victim ci-a.docker's file (its successor record was written between the index's two reads)",
			p.Sinks[1].Target("ci-a"))
	}
}

// The deletion round's index (keyListed nil) gives the victim's old
// record no target: a catch-up for ci-a there writes the victim's file,
// where a pass's index (same journal, key listed) refuses it.
func TestADeletionRoundCountsOldRecords(t *testing.T) {
	h, _, p, _, _ := renameSetup(t)
	c := h.engine.claims
	n := c.enter()
	defer c.leave(n)
	if err := h.engine.claimTargets(&targetOwners{claims: c, pass: n, keyListed: listedV}, p, "ci-a"); err == nil {
		t.Fatal("setup: a pass lets ci-a through")
	}
	r := c.enter()
	defer c.leave(r)
	if err := h.engine.claimTargets(&targetOwners{claims: c, pass: r}, p, "ci-a"); err == nil {
		t.Errorf("deletion round: ci-a allowed to write %s while the victim's old record delivered its listed key there", p.Sinks[1].Target("ci-a"))
	}
}

// nameOf reads the names later than the index: an owner whose record is
// deleted in between was named "" (review).
func TestARefusalNeverNamesAnEmptyOwner(t *testing.T) {
	h, _, p, _, succ := renameSetup(t)
	if err := h.store.Put(succ); err != nil {
		t.Fatal(err)
	}
	c := h.engine.claims
	n := c.enter()
	defer c.leave(n)
	to := &targetOwners{claims: c, pass: n, keyListed: listedV}
	if err := h.engine.claimTargets(to, p, "ci-zzz"); err != nil { // builds the index
		t.Fatal(err)
	}
	h.store.Delete("ci-keys", "ci-a.docker")
	h.store.Delete("ci", "ci-a.docker")
	err := h.engine.claimTargets(to, p, "ci-a")
	if err == nil || strings.Contains(err.Error(), `key name ""`) ||
		!strings.Contains(err.Error(), `"ci-a.docker"`) && !strings.Contains(err.Error(), "its record removed since") {
		t.Errorf("ci-a: %v, want refused, naming ci-a.docker or saying its record is gone, never an empty name", err)
	}
}
