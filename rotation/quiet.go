package rotation

// On a pass with nothing due, every name is quiet (quietDecision): its
// outcome is known without a handler. Most of that verdict reads only the
// journal, so a pass works it out while its listing is on the wire
// (quietRecords), and once the listing is in only checks each listed key
// against it (claim): one map lookup a key instead of a handler, a record
// walk and a sort after the listing.

import (
	"slices"
	"strings"
	"time"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/state"
)

// quietDecision says whether a name's handler would find nothing to do and
// nothing to write, and if so what it would decide: the one key the API
// lists under the name is the record's current key, of the record's role,
// delivered to every sink, with nothing in flight, owed or failed, and
// Decide finds it younger than max_age. Keys the record says were deleted
// are not listed (the name has one key): the handler would only forget
// them in memory (pruneDeleted), not delete them again (deleteLingering).
// On a pass with nothing due that is every name, and a handler each (a
// goroutine, the name's lock, a copy of the record) cost 5 µs a name, more
// than the listing. Anything less plain goes to the handler, which decides
// again.
// r is the journal's own record, read under its lock: only read.
func quietDecision(p Policy, r *state.Record, live, all []apiclient.Key, ownID string, now time.Time, opts Options) (Decision, bool) {
	d, ok := quietRecord(p, r, now, opts)
	if !ok || !quietListing(r.CurrentKeyID, r.RoleID, d, live, all, ownID, now) {
		return Decision{}, false
	}
	return d, true
}

// quietRecord is the part of quietDecision that reads the record alone:
// everything but the listing, which is taken to show the record's current
// key, of its role, and no other key of the name.
func quietRecord(p Policy, r *state.Record, now time.Time, opts Options) (Decision, bool) {
	if p.Self != nil || opts.DryRun || opts.Force {
		return Decision{}, false
	}
	id := r.CurrentKeyID
	if id == "" || r.CurrentSince.IsZero() || r.Rotation != nil || r.RetriedCreate != nil || !r.FailureHookPending.IsZero() || r.Failures != 0 {
		return Decision{}, false
	}
	if gone := r.Deleted.Has(id); gone {
		return Decision{}, false
	}
	if seen := r.FirstSeen.Has(id); !seen || len(r.FirstSeen) != 1 {
		return Decision{}, false // Reconcile would change the record
	}
	for _, s := range p.Sinks {
		if d, ok := r.Delivered.Get(sinkID(s, r.Name)); !ok || d.KeyID != id {
			return Decision{}, false // a sink to give the key to
		}
	}
	if len(r.Delivered) > len(p.Sinks) {
		return Decision{}, false // deliveries to forget (pruneDeliveries)
	}
	// The own key never reaches Decide here: quietListing refuses it.
	d := Decide(Input{
		Now: now, MaxAge: p.MaxAge, IgnoreBackoff: opts.IgnoreBackoff,
		Live: []apiclient.Key{{ID: id, Name: r.Name, RoleID: r.RoleID}}, Record: *r,
		JitterOffset: JitterOffset(r.Name, p.Jitter), Windows: p.Windows, IgnoreWindows: opts.IgnoreWindows, GracePeriod: p.GracePeriod,
	})
	if d.Action != ActionNone || d.Reason != ReasonFresh {
		return Decision{}, false
	}
	return d, true
}

// quietListing is the listing's part of quietDecision, for a record whose
// part (quietRecord) gave d: the name lists one key, the policy's, which is
// the current key (keyID, roleID), not rotatord's own, and at now it is
// still not due. A fresh decision holds until its Due, so a verdict the
// record gave at an earlier time only needs that check.
func quietListing(keyID, roleID string, d Decision, live, all []apiclient.Key, ownID string, now time.Time) bool {
	return len(live) == 1 && len(all) == 1 && all[0].ID == live[0].ID && quietKey(keyID, roleID, d, live[0], ownID, now)
}

// quietKey is quietListing for the one key k a name lists.
func quietKey(keyID, roleID string, d Decision, k apiclient.Key, ownID string, now time.Time) bool {
	return k.ID == keyID && sameRoleID(k.RoleID, roleID) && k.ID != ownID && now.Before(d.Due)
}

// quietCandidate is a record whose own part of quietDecision holds: quiet
// if the listing shows what it expects.
type quietCandidate struct {
	policy   *Policy
	name     string
	keyID    string
	roleID   string
	decision Decision
	// owned: Engine.owner, but for the Self policies (which claim checks),
	// gives the candidate's policy the key the record expects (its name
	// and role), as the journal stood, with that key alone listed under
	// the name: the only listing claim marks quiet.
	owned bool
	// checkDue, when the policy checks its sinks, is when the name's next
	// sink check is due (sinkcheck.go): from then on the handler has it.
	checks   bool
	checkDue time.Time
}

// quietSet is what a pass knows of the journal before its listing comes.
// It is only read once built: the next pass may reuse it (quietFor).
type quietSet struct {
	candidates []quietCandidate // by policy name, then name
	// outcomes are the candidates' outcomes, in their order, should they be
	// quiet: built while the listing is on the wire too, so that the pass
	// only copies them out of one array afterwards. The next pass may hand
	// them out again, their KeyIDs arrays too.
	outcomes []Outcome
	// outLen is how much room a pass makes for its outcomes (quietFor).
	outLen int
	byName map[string]int32 // the candidates' names: their index
	// lastOf is what claim worked out for the last listing it was given:
	// each listed key's candidate plus one (0: none), in the listing's
	// order. The API lists the same keys in the same order from one pass
	// to the next, so it tells the next claim where to look first. Only
	// the pass holding the set reads or writes it (quietFor, keepQuiet).
	lastOf []int32
	// others are the names of every policy's records that are not
	// candidates, or are candidates of two policies at once.
	others map[string][]string

	// stamp is what the set was worked out from, and at when; reusable is
	// set when the journal could say (quietFor).
	stamp    quietStamp
	at       time.Time
	reusable bool
}

// quietStamp is what a quiet set depends on besides the time: the
// journal's records, the policies, the ones the pass runs and the options
// Decide reads.
type quietStamp struct {
	version       uint64
	policyGen     uint64
	sinkChecks    uint64 // Engine.sinkCheckGen
	run           string
	ignoreBackoff bool
	ignoreWindows bool
}

// quietFor returns the quiet set of a pass: that of the last pass of the
// same policies when what it was worked out from still stands, else a new
// one (the daemon runs each policy on its own schedule, the pass at start
// all of them). On a schedule with
// nothing due the journal does not change from one pass to the next, and
// working the set out again (every record, Decide, a sort) cost as much
// CPU as decoding the listing, on the same cores and at the same time. A
// verdict worked out at an earlier time still holds until its Due, which
// claim checks at the pass's own time. The pass hands the set back with
// keepQuiet.
// Along with the set it returns room for the pass's outcomes, made (and so
// its pages mapped) while the listing is on the wire: at 10,000 names,
// faulting in a new array after it cost more than the rest of the pass.
func (e *Engine) quietFor(policies, run []Policy, policyGen uint64, now time.Time, opts Options) (*quietSet, []Outcome) {
	qs := e.quietSetFor(policies, run, policyGen, now, opts)
	return qs, make([]Outcome, qs.outLen)
}

func (e *Engine) quietSetFor(policies, run []Policy, policyGen uint64, now time.Time, opts Options) *quietSet {
	v, ok := e.store.(state.Versioned)
	if !ok || opts.DryRun || opts.Force {
		return e.quietRecords(policies, run, now, opts)
	}
	names := make([]string, len(run))
	for i, p := range run {
		names[i] = p.Name
	}
	// Read before the records: a change made while they are read moves
	// the version past this stamp, and the next pass works the set out
	// again.
	stamp := quietStamp{
		version: v.Version(), policyGen: policyGen, sinkChecks: e.sinkCheckGen.Load(), run: strings.Join(names, "\x00"),
		ignoreBackoff: opts.IgnoreBackoff, ignoreWindows: opts.IgnoreWindows,
	}
	e.mu.Lock()
	qs := e.quiet[stamp.run]
	reuse := qs != nil && !e.quietBusy[stamp.run] && qs.stamp == stamp && !now.Before(qs.at)
	if reuse {
		if e.quietBusy == nil {
			e.quietBusy = map[string]bool{}
		}
		e.quietBusy[stamp.run] = true
	}
	e.mu.Unlock()
	if !reuse {
		qs = e.quietRecords(policies, run, now, opts)
		qs.stamp, qs.at, qs.reusable = stamp, now, true
	}
	return qs
}

// keepQuiet takes back the quiet set a pass used, for the next pass of
// the same policies.
func (e *Engine) keepQuiet(qs *quietSet) {
	if !qs.reusable {
		return
	}
	// Read before the engine's lock, as quietSetFor does.
	version := e.store.(state.Versioned).Version()
	e.mu.Lock()
	defer e.mu.Unlock()
	run := qs.stamp.run
	if qs == e.quiet[run] {
		delete(e.quietBusy, run)
		return
	}
	// Sets of policies since replaced, or of a journal since changed,
	// serve no pass again: both numbers only grow. Judged against what is
	// in force now, not against the set handed back, which may be older
	// than the ones kept (a pass that straddled a reload or a write).
	for k, old := range e.quiet {
		if (old.stamp.policyGen != e.policyGen || old.stamp.version < version) && !e.quietBusy[k] {
			delete(e.quiet, k)
		}
	}
	if e.quietBusy[run] || qs.stamp.policyGen != e.policyGen || qs.stamp.version != version {
		return // the set can never match, or another pass holds the slot
	}
	if e.quiet == nil {
		e.quiet = map[string]*quietSet{}
	}
	e.quiet[run] = qs
}

// quietRecords reads the journal's records of the policies run and sorts
// the quiet candidates out from the others. policies are all the installed
// ones (for Engine.owner), now is the pass's time before its listing.
// Whether a Self policy takes a candidate's key is left to claim: before
// the listing, rotatord's own key is not known by name yet.
func (e *Engine) quietRecords(policies, run []Policy, now time.Time, opts Options) *quietSet {
	qs := &quietSet{others: make(map[string][]string, len(run))}
	for i := range run {
		p := &run[i]
		var others []string
		eachRecord(e.store, p.Name, func(r *state.Record) {
			if CheckName(r.Name) == "" {
				if d, ok := quietRecord(*p, r, now, opts); ok {
					c := quietCandidate{policy: p, name: r.Name, keyID: r.CurrentKeyID, roleID: r.RoleID, decision: d}
					if p.SinkCheck > 0 {
						c.checks, c.checkDue = true, e.sinkCheckDue(p, r.Name)
					}
					qs.candidates = append(qs.candidates, c)
					return
				}
			}
			others = append(others, r.Name)
		})
		qs.others[p.Name] = others
	}
	// Outside the journal's lock: owner reads the journal too. A name with
	// records in two policies is left to the handlers: claiming its key
	// for one would hide it from the other's.
	twice := map[string]bool{}
	for _, names := range qs.others {
		for _, name := range names {
			if len(qs.candidates) > 0 {
				twice[name] = false // a record that is no candidate
			}
		}
	}
	seen := make(map[string]bool, len(qs.candidates))
	for i := range qs.candidates {
		c := &qs.candidates[i]
		c.owned = e.ownerExceptSelf(policies, apiclient.Key{ID: c.keyID, Name: c.name, RoleID: c.roleID}, nil) == c.policy.Name
		if _, other := twice[c.name]; seen[c.name] || other {
			twice[c.name] = true
		}
		seen[c.name] = true
	}
	for name, dup := range twice {
		if !dup {
			delete(twice, name)
		}
	}
	if len(twice) > 0 {
		// A name with records in two policies: the handlers sort it out.
		qs.candidates = slices.DeleteFunc(qs.candidates, func(c quietCandidate) bool {
			if twice[c.name] {
				qs.others[c.policy.Name] = append(qs.others[c.policy.Name], c.name)
				return true
			}
			return false
		})
	}
	slices.SortFunc(qs.candidates, func(a, b quietCandidate) int {
		if c := strings.Compare(a.policy.Name, b.policy.Name); c != 0 {
			return c
		}
		return strings.Compare(a.name, b.name)
	})
	packStrings(qs.candidates)
	qs.byName = make(map[string]int32, len(qs.candidates))
	qs.outcomes = make([]Outcome, len(qs.candidates))
	ids := make([]string, len(qs.candidates))
	for i, c := range qs.candidates {
		qs.byName[c.name] = int32(i)
		ids[i] = c.keyID // a quiet name lists its current key alone
		qs.outcomes[i] = Outcome{Policy: c.policy.Name, Name: c.name, KeyIDs: ids[i : i+1 : i+1], Decision: c.decision}
	}
	qs.outLen = len(qs.candidates) + 64
	for _, o := range qs.others {
		qs.outLen += len(o)
	}
	return qs
}

// claim marks quiet each candidate whose name lists exactly the one key it
// expects (quiet, by the candidates' index), and returns the listing's
// other keys, for the handlers: those of every other name, and those of
// the candidates it did not mark. It keeps its work in arrays indexed by
// candidate and by key, not in the candidates: at 10,000 names the
// misses of the caches on scattered candidates were most of its cost.
// It runs right after the listing's decoding has pushed most of the
// process's memory out of the caches, so what it touches matters more
// than what it computes: the candidates' strings are packed together
// (packStrings), and a key is first looked for where the last listing had
// it (lastOf), which on a stable listing replaces 10,000 hashed lookups
// with string compares in order. At 10,000 names in the daemon it went
// from 1.8 ms to about 0.5 (bench/README.md).
func (qs *quietSet) claim(keys []apiclient.Key, ownID string, now time.Time, self func(name, roleID string) bool) (rest []apiclient.Key, quiet []bool) {
	listed := make([]int32, len(qs.candidates)) // the name's keys, whatever their role
	first := make([]int32, len(qs.candidates))  // the index of the first of them
	of := make([]int32, len(keys))              // each key's candidate, plus one; 0: none
	for i, k := range keys {
		var c int32
		if i < len(qs.lastOf) && qs.lastOf[i] > 0 && int(qs.lastOf[i]) <= len(qs.candidates) &&
			qs.candidates[qs.lastOf[i]-1].name == k.Name {
			c = qs.lastOf[i] - 1 // where the last listing had it: no hashing
		} else {
			var ok bool
			if c, ok = qs.byName[k.Name]; !ok {
				continue
			}
		}
		of[i] = c + 1
		if listed[c] == 0 {
			first[c] = int32(i)
		}
		listed[c]++
	}
	quiet = make([]bool, len(qs.candidates))
	claimed := 0
	for i := range qs.candidates {
		if listed[i] != 1 {
			continue
		}
		c, k := &qs.candidates[i], keys[first[i]]
		if c.owned && quietKey(c.keyID, c.roleID, c.decision, k, ownID, now) && (!c.checks || now.Before(c.checkDue)) &&
			(self == nil || !self(k.Name, k.RoleID)) {
			quiet[i] = true
			claimed++
		}
	}
	qs.lastOf = of
	rest = make([]apiclient.Key, 0, len(keys)-claimed)
	for i, k := range keys {
		if c := of[i]; c == 0 || !quiet[c-1] {
			rest = append(rest, k)
		}
	}
	return rest, quiet
}

// packStrings copies the candidates' names and key ids into one string, in
// the candidates' order, and gives the candidates that role id has one
// copy: claim compares them with the listing's in that order, and the
// records' own copies are scattered over the heap, each compare a miss of
// the caches. It costs one copy of those strings per quiet set, made
// while the listing is on the wire.
func packStrings(cs []quietCandidate) {
	size := 0
	for _, c := range cs {
		size += len(c.name) + len(c.keyID)
	}
	var b strings.Builder
	b.Grow(size)
	for _, c := range cs {
		b.WriteString(c.name)
		b.WriteString(c.keyID)
	}
	packed, at := b.String(), 0
	take := func(n int) string {
		s := packed[at : at+n]
		at += n
		return s
	}
	roles := map[string]string{}
	for i := range cs {
		c := &cs[i]
		c.name, c.keyID = take(len(c.name)), take(len(c.keyID))
		if r, ok := roles[c.roleID]; ok {
			c.roleID = r
		} else {
			roles[c.roleID] = c.roleID
		}
	}
}
