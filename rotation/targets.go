package rotation

// Key names are chosen by whoever may create API keys, and a sink's target
// is rendered from the name: two names can render the same target ("ci-a"
// with "{{.Name}}.docker.env", "ci-a.docker" with "{{.Name}}.env"). Targets
// are compared as strings: two names that differ only in case meet on a
// case-insensitive file system without this check seeing it. The sinks'
// ownership markers name the policy, not the key name, so without this
// check the second name's rotation would replace the first name's
// credential with a key of its own: an outage for the first name's
// consumer, with a key whose name and role someone else chose.
//
// A target belongs to the name whose record says it was delivered there,
// by a sink in force (a sink removed since writes there no more), or whose
// rotation in flight writes there; a name that renders a target
// another name owns is refused before any key is made or any sink is
// written. Among the passes under way, the first name to write a target no
// record owns claims it; a target that a record and a claim give to two
// other names is refused to both.

import (
	"fmt"
	"hash/maphash"
	"slices"
	"strings"
	"sync"

	"github.com/rotatord/rotatord/sinks"
	"github.com/rotatord/rotatord/state"
)

// targetOwners tells which key names own each sink id (sinkID: kind and
// target), for one pass: the journal's side is read when first asked (a
// pass that writes no sink reads none); the claims are the engine's,
// shared by the passes under way (targetClaims). It keeps hashes, 16 bytes
// a target: at 10,000 names a map of the ids' strings added 6 MB to a
// forced pass's peak RSS. A hash that two targets share (one chance in
// 2^64 per pair) refuses a name wrongly, never lets one through.
type targetOwners struct {
	once     sync.Once
	claims   *targetClaims
	pass     uint64        // the pass's number (targetClaims.enter)
	recorded []targetOwner // from the journal, sorted by target
	// listed tells whether the pass's listing shows keys of a name; nil
	// when there is no listing (a round of deletions).
	listed func(name string) bool
}

type targetOwner struct{ target, name uint64 }

// targetClaims are the targets claimed by the passes under way, by target
// hash. Shared, because two passes can run at once (policies on their own
// schedules, the deleter's catch-up): each reads the journal once, when it
// first claims, so what another pass claimed and wrote since is only seen
// here. A claim outlives its pass while a pass that was under way when it
// ended still runs (that pass may have read the journal before the write
// the claim led to); passes that start later read it in the journal.
type targetClaims struct {
	seed    maphash.Seed // the engine's: passes compare each other's hashes
	mu      sync.Mutex
	last    uint64          // the number of the last pass that entered
	running map[uint64]bool // the passes under way
	claimed map[uint64]claim
}

type claim struct {
	name uint64 // the claiming name's hash
	pass uint64 // the pass that made it
	// retired is 0 while that pass runs; then the number from which
	// passes do not need the claim (they entered after it ended).
	retired uint64
}

func newTargetClaims() *targetClaims { return &targetClaims{seed: maphash.MakeSeed()} }

// enter numbers a pass (or a catch-up) as it starts; leave(number) as it
// ends. A claim made with number 0 (no enter: tests) is never dropped.
func (c *targetClaims) enter() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running == nil {
		c.running = map[uint64]bool{}
	}
	c.last++
	c.running[c.last] = true
	return c.last
}

func (c *targetClaims) leave(pass uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.running, pass)
	oldest := c.last + 1 // the oldest pass under way
	for p := range c.running {
		oldest = min(oldest, p)
	}
	for h, cl := range c.claimed {
		if cl.pass == pass && cl.retired == 0 {
			cl.retired = c.last + 1
			c.claimed[h] = cl
		}
		if cl.retired != 0 && cl.retired <= oldest {
			delete(c.claimed, h)
		}
	}
	if len(c.claimed) == 0 {
		c.claimed = nil // its buckets go too
	}
}

// targetsOf returns the pass's index of target owners.
func (w *passWork) targetsOf(e *Engine) *targetOwners {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.targets == nil {
		w.targets = &targetOwners{claims: e.claims, pass: w.pass, listed: w.listed}
	}
	return w.targets
}

func (t *targetOwners) hash(s string) uint64 { return maphash.String(t.claims.seed, s) }

// find returns where the records of target hash h start in t.recorded.
func (t *targetOwners) find(h uint64) int {
	i, _ := slices.BinarySearchFunc(t.recorded, h, func(o targetOwner, h uint64) int {
		switch {
		case o.target < h:
			return -1
		case o.target > h:
			return 1
		}
		return 0
	})
	return i
}

// recordedFor tells whether a record of name hash me owns target hash h.
func (t *targetOwners) recordedFor(h, me uint64) bool {
	for i := t.find(h); i < len(t.recorded) && t.recorded[i].target == h; i++ {
		if t.recorded[i].name == me {
			return true
		}
	}
	return false
}

// otherOwner is a name that may own a target: by a record, and claimed
// when a pass under way claimed the target for it.
type otherOwner struct {
	name    uint64
	claimed bool
}

// others returns the names, other than me, that own target hash h: by a
// record (as the journal was when the pass read it), and by a claim of a
// pass under way. Neither outranks the other. Called with t.claims.mu
// held.
func (t *targetOwners) others(h, me uint64) []otherOwner {
	var out []otherOwner
	for i := t.find(h); i < len(t.recorded) && t.recorded[i].target == h; i++ {
		if n := t.recorded[i].name; n != me && !slices.ContainsFunc(out, func(o otherOwner) bool { return o.name == n }) {
			out = append(out, otherOwner{name: n})
		}
	}
	if cl, ok := t.claims.claimed[h]; ok && cl.name != me {
		if i := slices.IndexFunc(out, func(o otherOwner) bool { return o.name == cl.name }); i >= 0 {
			out[i].claimed = true
		} else {
			out = append(out, otherOwner{name: cl.name, claimed: true})
		}
	}
	return out
}

// claimTargets checks that every sink target of p for name is name's: no
// other name's record delivers there (by a sink still in force), and no
// pass under way claimed it for another name. It then claims them. The
// error names the target and the other name. The same key name under
// another policy (a name that moved) is left to the sinks' markers, which
// name the policy.
func (e *Engine) claimTargets(t *targetOwners, p Policy, name string) error {
	t.once.Do(func() { e.buildTargetIndex(t) })
	me := t.hash(name)
	c := t.claims
	c.mu.Lock()
	defer c.mu.Unlock()
	var hashes []uint64
	for i, s := range p.Sinks {
		if strings.HasPrefix(s.Target(name), "<") {
			continue // no target for the name: its probe says why
		}
		sid := sinkID(s, name)
		h := t.hash(sid)
		hashes = append(hashes, h)
		for _, o := range t.others(h, me) {
			// Rare: look the other name up, and whether a sink in force
			// still writes there for it (a sink removed since gives its
			// targets up).
			op, on, writes := e.ownerOf(t, o, sid)
			if !writes {
				continue
			}
			if on == "" {
				return fmt.Errorf("sink %s: target %s is also the target of another key name, new, whose rotation under way claimed it first: two key names render the same target; not writing it for %q",
					sinkLabel(i, s), s.Target(name), name)
			}
			return fmt.Errorf("sink %s: target %s is also the target of key name %q (policy %q), which holds it: two key names render the same target; not writing it for %q",
				sinkLabel(i, s), s.Target(name), on, op, name)
		}
	}
	if c.claimed == nil {
		c.claimed = map[uint64]claim{}
	}
	for _, h := range hashes {
		// A target the journal gave the name when this pass read it needs
		// no claim: a pass that read it earlier has the claim that led to
		// that record, kept while it runs. (At 10,000 names, claims for
		// every target added 0.7 MB to a forced pass.)
		if _, ok := c.claimed[h]; ok || !t.recordedFor(h, me) {
			c.claimed[h] = claim{name: me, pass: t.pass}
		}
	}
	return nil
}

// ownerOf returns a policy and name of name o such that a sink in force
// renders sid for that name, and whether there is one.
//
// The policies in force that have a record of the name decide: any of
// them (a name with keys of two roles has two records) that records a
// delivery there, or a rotation in flight writing there, or whose name a
// pass under way claimed the target for. A name with no
// such record owns the target when a pass under way claimed it for the
// name (a new name; it was checked when it claimed), or when a record of
// a policy no longer in force (renamed or removed) gives it the target,
// the pass's listing still shows keys of the name, and a policy in force
// that matches the name renders the target: a renamed policy has not
// adopted the name yet, and its sinks may be told to take_over what the
// old name's marked. Once a policy in force has the name, or the name's
// keys are gone, such records stop counting.
func (e *Engine) ownerOf(t *targetOwners, o otherOwner, sid string) (policy, name string, writes bool) {
	policies, _ := e.snapshotPolicies()
	renders := func(p Policy, name string) bool {
		return slices.ContainsFunc(p.Sinks, func(s sinks.Sink) bool { return sinkID(s, name) == sid })
	}
	type staleRecord struct{ name, role string }
	var stale []staleRecord
	inForce := false
	eachRecord(e.store, "", func(r *state.Record) {
		if t.hash(r.Name) != o.name {
			return
		}
		i := slices.IndexFunc(policies, func(p Policy) bool { return p.Name == r.Policy })
		if i < 0 {
			stale = append(stale, staleRecord{r.Name, r.RoleID})
			return
		}
		inForce = true
		// Its record must say it delivers there (or its rotation in
		// flight does), unless a pass under way claimed the target for
		// it: it is writing there now.
		if !writes && renders(policies[i], r.Name) && (o.claimed || recordsTarget(r, sid)) {
			policy, name, writes = r.Policy, r.Name, true
		}
	})
	switch {
	case inForce:
		return policy, name, writes
	case o.claimed:
		return "", "", true
	}
	for _, r := range stale {
		if t.listed != nil && !t.listed(r.name) {
			continue
		}
		for _, p := range policies {
			if p.Self == nil && p.Match(r.name, r.role) && renders(p, r.name) {
				return p.Name, r.name, true
			}
		}
	}
	return "", "", false
}

// recordsTarget tells whether r delivered to sid, or its rotation in flight
// writes there.
func recordsTarget(r *state.Record, sid string) bool {
	if _, ok := r.Delivered.Get(sid); ok {
		return true
	}
	if r.Rotation != nil {
		_, ok := r.Rotation.Sinks[sid]
		return ok
	}
	return false
}

// buildTargetIndex reads which name each recorded delivery and each
// rotation in flight writes to, in every record: those of a policy no
// longer in force too (a renamed policy has none of its own yet, and its
// sinks may be told to take_over what the old name's marked).
func (e *Engine) buildTargetIndex(t *targetOwners) {
	eachRecord(e.store, "", func(r *state.Record) {
		n := t.hash(r.Name)
		for _, d := range r.Delivered {
			t.recorded = append(t.recorded, targetOwner{t.hash(d.Sink), n})
		}
		if r.Rotation != nil {
			for sid := range r.Rotation.Sinks {
				t.recorded = append(t.recorded, targetOwner{t.hash(sid), n})
			}
		}
	})
	slices.SortFunc(t.recorded, func(a, b targetOwner) int {
		switch {
		case a.target < b.target:
			return -1
		case a.target > b.target:
			return 1
		}
		return 0
	})
}
