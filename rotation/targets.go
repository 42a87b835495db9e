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
// record owns claims it.

import (
	"fmt"
	"hash/maphash"
	"slices"
	"strings"
	"sync"

	"github.com/rotatord/rotatord/sinks"
	"github.com/rotatord/rotatord/state"
)

// targetOwners tells which key name owns each sink id (sinkID: kind and
// target). The journal's side is built when first asked (a pass that
// writes no sink builds none); the claims are the engine's, shared by
// every pass under way (targetClaims). It keeps hashes, 16 bytes a
// target: at 10,000 names a map of the ids' strings added 6 MB to a
// forced pass's peak RSS. A hash that two targets share (one chance in
// 2^64 per pair) refuses a name wrongly, never lets one through.
type targetOwners struct {
	once     sync.Once
	claims   *targetClaims
	recorded []targetOwner // from the journal, sorted by target
}

type targetOwner struct{ target, name uint64 }

// targetClaims are the targets claimed by the passes under way, target
// hash to name hash. Shared, because two passes can run at once (the pass
// at start and a policy's cron tick, or the deleter's catch-up): each
// reads the journal when it first claims, so a target another pass has
// claimed but not yet recorded a delivery to is only seen here. Dropped
// when the last pass leaves: every claim that led to a write is in the
// journal by then, and the next pass reads it there.
type targetClaims struct {
	seed    maphash.Seed // the engine's: passes compare each other's hashes
	mu      sync.Mutex
	users   int
	claimed map[uint64]uint64
}

func newTargetClaims() *targetClaims { return &targetClaims{seed: maphash.MakeSeed()} }

// enter is called as a pass (or a catch-up) starts; leave as it ends.
func (c *targetClaims) enter() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.users++
}

func (c *targetClaims) leave() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.users--; c.users <= 0 {
		c.users, c.claimed = 0, nil
	}
}

// targetsOf returns the pass's index of target owners, or a fresh one
// when there is no pass (the deleter's catch-up).
func (w *passWork) targetsOf(e *Engine) *targetOwners {
	if w == nil {
		return &targetOwners{claims: e.claims}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.targets == nil {
		w.targets = &targetOwners{claims: e.claims}
	}
	return w.targets
}

func (t *targetOwners) hash(s string) uint64 { return maphash.String(t.claims.seed, s) }

// owner returns the hash of the name that owns target hash h. Called with
// t.claims.mu held.
func (t *targetOwners) owner(h uint64) (uint64, bool) {
	if n, ok := t.claims.claimed[h]; ok {
		return n, true
	}
	i, ok := slices.BinarySearchFunc(t.recorded, h, func(o targetOwner, h uint64) int {
		switch {
		case o.target < h:
			return -1
		case o.target > h:
			return 1
		}
		return 0
	})
	if !ok {
		return 0, false
	}
	return t.recorded[i].name, true
}

// claimTargets checks that every sink target of p for name is name's: no
// other name's record delivers there, and no pass under way claimed it for
// another name. It claims the targets no one owns. The error names the
// target and the other name. The same key name under another policy (a name that
// moved) is left to the sinks' markers, which name the policy.
func (e *Engine) claimTargets(t *targetOwners, p Policy, name string) error {
	t.once.Do(func() { e.buildTargetIndex(t) })
	me := t.hash(name)
	t.claims.mu.Lock()
	defer t.claims.mu.Unlock()
	hashes := make([]uint64, len(p.Sinks))
	for i, s := range p.Sinks {
		sid := sinkID(s, name)
		hashes[i] = t.hash(sid)
		if strings.HasPrefix(s.Target(name), "<") {
			continue // no target for the name: its probe says why
		}
		o, ok := t.owner(hashes[i])
		if !ok || o == me {
			continue
		}
		// Rare: look the other name up, and whether a sink of its policy
		// still writes there (a sink removed since gives its targets up).
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
	for _, h := range hashes {
		if o, ok := t.owner(h); !ok || o != me {
			if t.claims.claimed == nil {
				t.claims.claimed = map[uint64]uint64{}
			}
			t.claims.claimed[h] = me
		}
	}
	return nil
}

// ownerOf returns the policy and name of name hash o, and whether a sink
// of that policy in force renders sid for that name. A name claimed by a
// pass under way that has no record yet is not found (empty policy and
// name), and writes there.
func (e *Engine) ownerOf(t *targetOwners, o uint64, sid string) (policy, name string, writes bool) {
	policies, _ := e.snapshotPolicies()
	for _, p := range policies {
		eachRecord(e.store, p.Name, func(r *state.Record) {
			if name == "" && t.hash(r.Name) == o {
				policy, name = p.Name, r.Name
				writes = slices.ContainsFunc(p.Sinks, func(s sinks.Sink) bool { return sinkID(s, r.Name) == sid })
			}
		})
	}
	if name == "" {
		return "", "", true
	}
	return policy, name, writes
}

// buildTargetIndex reads, for every policy in force, which name each
// recorded delivery and each rotation in flight writes to.
func (e *Engine) buildTargetIndex(t *targetOwners) {
	policies, _ := e.snapshotPolicies()
	for _, p := range policies {
		eachRecord(e.store, p.Name, func(r *state.Record) {
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
	}
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
