package rotation

// A pass takes one listing of the organization's keys and hands every key
// name a policy selects to its handler. It keeps one invariant: a handler
// acts only on a listing nothing has acted on since, so a name is never
// rotated twice from one stale view.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/hooks"
	"github.com/rotatord/rotatord/internal/memtrim"
	"github.com/rotatord/rotatord/sinks"
	"github.com/rotatord/rotatord/state"
)

// Pass runs the named policies (all when names is empty): one listing of
// the keys, then every selected name in parallel. It returns one outcome
// per name. A failed listing fails the pass before anything changes.
func (e *Engine) Pass(ctx context.Context, names []string, opts Options) ([]Outcome, error) {
	if opts.IgnoreWindows {
		ctx = context.WithValue(ctx, ignoreWindowsKey{}, true)
	}
	policies, policyGen := e.snapshotPolicies()
	var run []Policy
	for _, p := range policies {
		if len(names) == 0 || slices.Contains(names, p.Name) {
			run = append(run, p)
		}
	}
	for _, n := range names {
		if !slices.ContainsFunc(policies, func(p Policy) bool { return p.Name == n }) {
			return nil, fmt.Errorf("no policy named %q", n)
		}
	}
	// Taken before the listing: a name whose generation has moved when its
	// turn comes was acted on by another pass, after this listing maybe.
	gens := e.generations()
	e.mu.Lock()
	concurrency := e.concurrency
	e.mu.Unlock()
	// The journal's side of the quiet names is read while the listing is
	// on the wire (quiet.go): a record that changes meanwhile is one whose
	// name another handler works on, and a quiet name is only reported.
	type prepared struct {
		qs  *quietSet
		out []Outcome
	}
	quietc := make(chan prepared, 1)
	go func() {
		qs, out := e.quietFor(policies, run, policyGen, e.now(), opts)
		quietc <- prepared{qs, out}
	}()
	// The listing's decoding and the claim allocate in a burst: the
	// collection they would start mid-pass waits until the jobs start, or
	// the pass ends (memtrim.Burst). From the answer on, not while the
	// request waits on the server: the target is the whole process's.
	// Not for a forced pass or a dry run, which claim no quiet names.
	var burst listingBurst
	defer burst.end()
	listCtx := ctx
	if !opts.Force && !opts.DryRun {
		listCtx = apiclient.WithAnswerHook(ctx, burst.start)
	}
	// A dry run notes the API's clock (its answer's Date) and this one's:
	// plan tells when an orphan search may end on both (searchDue).
	// A pass that acts notes them too: the searches of retried creates
	// search its listing (searchListing).
	listCtx, server := apiclient.WithServerClock(listCtx)
	listedAt := e.now()
	api, listedFor := e.clientOwn()
	keys, err := api.ListKeys(listCtx)
	prep := <-quietc
	qs := prep.qs
	defer e.keepQuiet(qs)
	if ae := (*apiclient.Error)(nil); errors.As(err, &ae) && ae.Kind == apiclient.KindAuth && e.followOwnAfterRefusal(ctx) {
		api, listedFor = e.clientOwn()
		keys, err = api.ListKeys(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	if err := e.otherAccountListed(keys); err != nil {
		return nil, err
	}
	if err := e.sameOrganization(ctx, api, keys, listedFor); err != nil {
		return nil, err
	}
	keys, ownNameUnknown := e.askOwnNameRoles(ctx, keys, policies)
	e.rolesFromRecords(keys, policies)
	if own := e.own(); own != "" {
		if slices.ContainsFunc(keys, func(k apiclient.Key) bool { return k.ID == own }) {
			e.noteOwnShown(own)
		} else if err := e.ownKeyUnlisted(ctx, own); err != nil {
			return nil, err
		}
	}
	e.noteSelf(keys)
	if opts.OnListed != nil {
		opts.OnListed()
	}
	listed := keys
	// The quiet names take their keys; the handlers get the rest, and the
	// names of every other record.
	keys, quietNames := qs.claim(keys, e.own(), e.now(), e.selfMatcher(policies))
	byKeyName := make(map[string][]apiclient.Key, len(keys))
	for _, k := range keys {
		byKeyName[k.Name] = append(byKeyName[k.Name], k)
	}

	var jobs []*job
	for _, p := range run {
		byName := make(map[string][]apiclient.Key, len(keys)/len(run))
		for _, k := range keys {
			if e.owner(policies, k, byKeyName[k.Name]) == p.Name {
				byName[k.Name] = append(byName[k.Name], k)
			}
		}
		// Names with a record but no key the policy matches: an
		// interrupted rotation to finish by its recorded ids, or a record
		// to forget.
		unlisted := func(name string) {
			if _, ok := byName[name]; ok {
				return
			}
			if r, ok := e.store.Get(p.Name, name); ok {
				// Keyed by the record's own string: a quiet candidate's
				// name is a slice of its set's packed strings
				// (packStrings), which the engine's maps by name would
				// keep alive.
				byName[r.Name] = recordedKeys(r, byKeyName[name])
			}
		}
		for _, name := range qs.others[p.Name] {
			unlisted(name)
		}
		for i, c := range qs.candidates {
			if c.policy.Name == p.Name && !quietNames[i] {
				unlisted(c.name)
			}
		}
		var skipped []SkippedName
		for name, live := range byName {
			// rotatord's own key is managed whatever its name: the name
			// goes into no path nor template (its store is one literal
			// file or Vault secret), and skipped, the key rotatord signs
			// with would silently never rotate ("rotatord admin" is a
			// name the console takes).
			if reason := CheckName(name); reason != "" && p.Self == nil && !e.finishesInFlight(p, name, live) {
				e.skipName(p, name, reason)
				if len(skipped) < maxSkippedShown {
					skipped = append(skipped, SkippedName{Name: strings.Clone(name), Reason: reason})
				}
				continue
			}
			sort.Slice(live, func(i, j int) bool { return live[i].ID < live[j].ID })
			jobs = append(jobs, &job{policy: &p, name: name, live: live, all: byKeyName[name]})
		}
		e.setSkipped(p.Name, skipped)
	}
	slices.SortFunc(jobs, func(a, b *job) int { return compareName(a.policy.Name, a.name, b.policy.Name, b.name) })
	// rotatord's own key goes last, once every other handler of the pass
	// is done (self.go).
	sort.SliceStable(jobs, func(i, j int) bool { return jobs[i].policy.Self == nil && jobs[j].policy.Self != nil })

	// The outcomes in the order of the names, the quiet ones among the
	// others (both lists are sorted; no quiet name is a Self policy's).
	isQuiet, quiet, nQuiet := quietNames, qs.outcomes, 0
	for _, q := range isQuiet {
		if q {
			nQuiet++
		}
	}
	total := len(jobs) + nQuiet
	out := prep.out[:min(total, len(prep.out))]
	if len(out) < total { // more new names than room was made for
		out = make([]Outcome, total)
	}
	report := func(o Outcome) {
		if opts.OnOutcome != nil {
			opts.OnOutcome(o, total)
		}
	}
	own := &passWork{done: map[string]uint64{}, pass: e.claims.enter(), keyListed: e.oldRecordsKeys(policies, byKeyName, len(jobs) > 0), listedAt: listedAt, ownNameUnknown: ownNameUnknown}
	if opts.DryRun {
		own.serverNow = server.Now()
	} else {
		own.search = &searchListing{keys: listed, listedAt: listedAt, serverNow: server.Now()}
	}
	defer e.claims.leave(own.pass)
	sem := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	for i := range out {
		for len(isQuiet) > 0 && !isQuiet[0] {
			isQuiet, quiet = isQuiet[1:], quiet[1:]
		}
		if len(isQuiet) > 0 && (len(jobs) == 0 || jobs[0].policy.Self != nil ||
			compareName(quiet[0].Policy, quiet[0].Name, jobs[0].policy.Name, jobs[0].name) < 0) {
			out[i] = quiet[0]
			isQuiet, quiet = isQuiet[1:], quiet[1:]
			report(out[i])
			continue
		}
		burst.end()
		j := jobs[0]
		// The slice lets go of each job as it starts: a finished name's
		// job and listed keys are garbage before the pass ends.
		jobs[0], jobs = nil, jobs[1:]
		if j.policy.Self != nil {
			wg.Wait()
		}
		if ctx.Err() != nil {
			// Said as the names cut in their handler are (handle), or
			// once's table shows an action "" and no reason.
			out[i] = Outcome{Policy: j.policy.Name, Name: j.name, Err: ctx.Err(),
				Decision: Decision{Action: ActionNone, Reason: ReasonCutUnhandled}}
			report(out[i])
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			j.gen, j.policyGen = gens[j.name], policyGen
			out[i] = e.handle(ctx, *j, own, opts)
			report(out[i])
		}()
	}
	wg.Wait()
	return out, nil
}

// compareName orders the names of a pass: by policy, then by name.
func compareName(policyA, nameA, policyB, nameB string) int {
	if c := strings.Compare(policyA, policyB); c != 0 {
		return c
	}
	return strings.Compare(nameA, nameB)
}

// job is one key name of one policy in a pass.
type job struct {
	policy    *Policy
	name      string
	live      []apiclient.Key // the keys of the name the policy owns
	all       []apiclient.Key // every key of the name, whatever its role
	gen       uint64          // the name's generation before the listing
	policyGen uint64          // the policies' generation the pass runs
}

// recordedKeys returns the listed keys of a record's name that the record
// knows by id: what an in-flight rotation works on when its policy no
// longer matches the name.
func recordedKeys(r state.Record, listed []apiclient.Key) []apiclient.Key {
	if r.Rotation == nil {
		return nil
	}
	var out []apiclient.Key
	for _, k := range listed {
		if k.ID == r.CurrentKeyID || k.ID == r.Rotation.NewKeyID || slices.Contains(r.Rotation.OldKeyIDs, k.ID) {
			out = append(out, k)
		}
	}
	return out
}

// oldRecordsKeys returns whether the listing shows a key under a name that
// a record of a policy no longer in force has (see targets.go), for a pass
// with jobs (a pass with none writes no sink). It keeps the ids of those
// names' keys only: the listing itself is garbage as the jobs start.
func (e *Engine) oldRecordsKeys(policies []Policy, byKeyName map[string][]apiclient.Key, jobs bool) func(name, id string) bool {
	listed := map[string]bool{}
	if jobs {
		eachRecord(e.store, "", func(r *state.Record) {
			if slices.ContainsFunc(policies, func(p Policy) bool { return p.Name == r.Policy }) {
				return
			}
			for _, k := range byKeyName[r.Name] {
				listed[r.Name+"\x00"+k.ID] = true
			}
		})
	}
	return func(name, id string) bool { return listed[name+"\x00"+id] }
}

// passWork counts the handlers one pass has run per name.
type passWork struct {
	mu      sync.Mutex
	done    map[string]uint64
	targets *targetOwners // built by the first handler that writes a sink
	pass    uint64        // its number among the passes that claim targets
	// keyListed tells whether the pass's listing shows key id under name
	// (the names with a job: a quiet name has a record in force).
	keyListed func(name, id string) bool

	staleOnce sync.Once
	stale     map[string][]staleRecord // staleDeliveries

	// A dry run's listing: when it was taken, and the API's clock then
	// (zero without a Date).
	listedAt, serverNow time.Time

	// ownNameUnknown: the listing showed keys of the own name whose role
	// neither it nor a GET gave, left out of the pass (askOwnNameRoles).
	ownNameUnknown bool

	// search is the pass's listing (not a dry run's), which the searches
	// of retried creates made before it use instead of a listing each:
	// at 10,000 names, every create a 429 answered cost a full listing at
	// each pass until its search settled.
	search *searchListing
}

// staleRecord is what inheritDeliveries takes from a record of a policy
// no longer in force.
type staleRecord struct {
	currentKeyID string
	delivered    state.Deliveries
}

// staleDeliveries returns the deliveries recorded for name under policies
// no longer in force (a renamed policy's old name), read once a pass.
func (w *passWork) staleDeliveries(e *Engine, name string) []staleRecord {
	w.staleOnce.Do(func() {
		policies, _ := e.snapshotPolicies()
		eachRecord(e.store, "", func(r *state.Record) {
			if len(r.Delivered) == 0 || slices.ContainsFunc(policies, func(p Policy) bool { return p.Name == r.Policy }) {
				return
			}
			if w.stale == nil {
				w.stale = map[string][]staleRecord{}
			}
			w.stale[r.Name] = append(w.stale[r.Name], staleRecord{r.CurrentKeyID, slices.Clone(r.Delivered)})
		})
	})
	return w.stale[name]
}

// inheritDeliveries gives a name's first record under p the deliveries a
// record of a policy no longer in force made to targets p renders, of the
// key the new record takes as current: after a rename the targets stay
// the name's from the start (targets.go), and its sinks need no write.
// A delivery with no key id (a sink a check found without the key, not
// given one since: sinkcheck.go) comes along while the old record's
// current key is the new one's: the loss is still one.
func inheritDeliveries(rec *state.Record, p Policy, stale []staleRecord) bool {
	changed := false
	for _, old := range stale {
		for _, d := range old.delivered {
			if rec.CurrentKeyID == "" || d.KeyID != rec.CurrentKeyID && (d.KeyID != "" || old.currentKeyID != rec.CurrentKeyID) {
				continue
			}
			if _, ok := rec.Delivered.Get(d.Sink); ok {
				continue
			}
			if slices.ContainsFunc(p.Sinks, func(s sinks.Sink) bool { return sinkID(s, rec.Name) == d.Sink }) {
				rec.Delivered.Set(d.Sink, d.Delivery)
				changed = true
			}
		}
	}
	return changed
}

func (w *passWork) add(name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.done[name]++
}

func (w *passWork) get(name string) uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.done[name]
}

// owner returns the policy that manages k: the one with a record of its
// name, while it still matches k (a reload that reorders policies does not
// move a name in the middle of its life), else the first that matches; ""
// when none does. listed are the keys the listing shows under k's name (k
// among them; nil: k alone). Of several policies with a record, see
// ownerExceptSelf.
func (e *Engine) owner(policies []Policy, k apiclient.Key, listed []apiclient.Key) string {
	// rotatord's own key is never another policy's, whatever records they
	// have of its name (one may manage a key of another role under it).
	for _, p := range policies {
		if p.Self != nil && p.Match(k.Name, k.RoleID) {
			return p.Name
		}
	}
	return e.ownerExceptSelf(policies, k, listed)
}

// ownerExceptSelf is owner without the Self policies.
//
// Of several policies that match k and have a record of its name, the
// first whose record is up to date (of k's role, with its current key
// listed under the name and not one another of those records says was
// deleted, or a rotation in flight) manages it; when none is, the first
// with a record of k's role, else the first with an up-to-date record of
// another role, else the first with a record. Overlapping globs ("ci-*" and "ci-r*"): ci managed the
// name, was removed from the file, ci2 took the name, rotated it and
// deleted ci's key; ci put back first took the name back through its
// record of that deleted key, rotated, and deleted the key ci2's sinks
// hold (an outage for their consumers). ci's stale record is now handled
// as a name whose keys are gone: plan shows it, and it is forgotten after
// the settle time. Decided per name (listed), not per key, so that one
// name's keys of a role go to one policy: a record whose current key is
// the old key of another policy's rotation in flight is up to date, and
// Stranded refuses the reload that would give it the name.
func (e *Engine) ownerExceptSelf(policies []Policy, k apiclient.Key, listed []apiclient.Key) string {
	first, recorded, several := "", "", false
	for _, p := range policies {
		if p.Self != nil || !p.Match(k.Name, k.RoleID) {
			continue
		}
		if first == "" {
			first = p.Name
		}
		if e.store.Has(p.Name, k.Name) {
			if recorded != "" {
				several = true
				break
			}
			recorded = p.Name
		}
	}
	if !several {
		return cmp.Or(recorded, first)
	}
	if listed == nil {
		listed = []apiclient.Key{k}
	}
	// What the loop below reads of each record, in a small array: a pass
	// asks this of every key of such a name, for each policy it runs.
	type held struct {
		policy, cur, role string
		rot               *state.Rotation
	}
	var buf [4]held
	recs := buf[:0]
	var deleted []string // the ids the records say were deleted
	for _, p := range policies {
		if p.Self != nil || !p.Match(k.Name, k.RoleID) {
			continue
		}
		if r, ok := e.store.Get(p.Name, k.Name); ok {
			recs = append(recs, held{p.Name, r.CurrentKeyID, r.RoleID, r.Rotation})
			for _, d := range r.Deleted {
				deleted = append(deleted, d.ID)
			}
		}
	}
	// A record whose current key is k keeps it, wherever it stands (k is
	// listed, and no record says it was deleted): ci2 (roleCI) placed
	// first, up to date with a key of its own, took ci's current key too
	// as the first record of its role, ci yielded the name, and ci2
	// adopted its own key from its sinks and deleted ci's, which ci's
	// sinks held (an outage for ci's consumers). Not when a rotation in
	// flight names k (its new key, or an old key it replaces): that
	// rotation's policy decides, as below.
	inFlight := slices.ContainsFunc(recs, func(r held) bool {
		return r.rot != nil && (k.ID == r.rot.NewKeyID || slices.Contains(r.rot.OldKeyIDs, k.ID))
	})
	if !inFlight && !slices.Contains(deleted, k.ID) {
		for _, r := range recs {
			if k.ID == r.cur {
				return r.policy
			}
		}
	}
	// The first record of k's role, and the first up to date of another.
	fallback, current := "", ""
	for _, r := range recs {
		// Of k's role: two policies may share a name by role, ops (any
		// role) managing a key of another role than ci's. ops's record,
		// up to date with its own key, took ci's key too while ci's
		// record had no current key (its new key vanished in its grace
		// period, the rotation again failing for a while): ci's record
		// was forgotten and its sinks kept the vanished key. A record
		// that names k itself is of its role, whatever the roles say (a
		// record's role may be older than its key's).
		role, names := r.role, k.ID == r.cur
		if rot := r.rot; rot != nil {
			role = cmp.Or(rot.RoleID, role)
			names = names || k.ID == rot.NewKeyID || slices.Contains(rot.OldKeyIDs, k.ID)
		}
		ofRole := names || role == "" || k.RoleID == "" || sameRoleID(role, k.RoleID)
		// A key one of these records says the API acknowledged deleting
		// is no key of the name, however long listings still show it (a
		// lag, or "not in organization"): a stale record of it is not up
		// to date. ci put back while the key ci2 deleted was still listed
		// took the name through its record of that key, adopted it from
		// its sinks and deleted the key ci2's sinks hold.
		upToDate := r.rot != nil || r.cur != "" && !slices.Contains(deleted, r.cur) &&
			slices.ContainsFunc(listed, func(l apiclient.Key) bool { return l.ID == r.cur })
		switch {
		case ofRole && upToDate:
			return r.policy
		case ofRole && fallback == "":
			fallback = r.policy
		case !ofRole && upToDate && current == "":
			current = r.policy
		}
	}
	// None of k's role is up to date: the first record of k's role keeps
	// it (ops placed before ci by a reload took ci's key through its
	// record of another role while ci's record had no current key, as
	// above). With none of k's role, the first record up to date takes
	// it, not a stale one: ci put back first with its record of the key
	// ci2 had deleted took a key of another role made under the name,
	// rotated (its current key gone) and, its rotation in flight, took
	// ci2's key too and deleted it. Else the first record.
	return cmp.Or(fallback, current, recorded)
}

// listingBurst is a pass's memtrim.Burst: started by the listing's answer
// (any number of times: a retried listing answers more than once), ended
// when the first job starts or the pass ends.
type listingBurst struct {
	mu    sync.Mutex
	endFn func()
	ended bool
}

func (b *listingBurst) start() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.endFn == nil && !b.ended {
		b.endFn = memtrim.Burst()
	}
}

func (b *listingBurst) end() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.ended = true
	if b.endFn != nil {
		b.endFn()
	}
}

// rolesFromRecords gives a key listed without its role (the API's fields
// are optional) the role of a record that names it: its current key, or
// a key of its rotation in flight. A key's role never changes, and the
// record took it from the API. A policy that matches its keys' role
// (match.role_id) saw no key of such a listing: the name's current key,
// listed, was "no longer" there, the record was forgotten and the name
// never rotated again, without an error. Keys no record names keep no
// role (asked by GET where it matters: roleUnlistedOfName, the orphan
// search, the own name's keys). The own key's role is askOwnNameRoles's.
func (e *Engine) rolesFromRecords(keys []apiclient.Key, policies []Policy) {
	own := e.own()
	for i, k := range keys {
		if k.RoleID != "" || k.Name == "" || k.ID == own {
			continue
		}
		for _, p := range policies {
			if p.Self != nil {
				continue
			}
			r, ok := e.store.Get(p.Name, k.Name)
			if !ok {
				continue
			}
			role := ""
			switch rot := r.Rotation; {
			case k.ID == r.CurrentKeyID:
				role = r.RoleID
			case rot == nil:
			case k.ID == rot.NewKeyID:
				role = cmp.Or(rot.RoleID, r.RoleID)
			case slices.Contains(rot.OldKeyIDs, k.ID):
				role = r.RoleID
			}
			if role != "" {
				keys[i].RoleID = role
				break
			}
		}
	}
}

// ReasonRoleUnlisted: a key of the name listed without its role may be of
// the name's role.
const ReasonRoleUnlisted Reason = "a key of the name is listed without its role, which a GET does not give or gives as the name's: a rotation past it would make a third key"

// roleUnlistedOfName returns a key of rec's name that the listing shows
// without its role (all) and that is not among the policy's keys (live),
// whose GET does not say it is of another role than rec's: "" when none.
// A policy that matches its keys' role does not see such a key, so a
// second key of the name and role, unknown to the record (a journal
// restored from an older copy, a key made by hand), was rotated past: a
// third live key of the name (chaos -mangle, seed 777). Asked only when
// the name is due: a GET per such key and rotation, not per pass.
func (e *Engine) roleUnlistedOfName(ctx context.Context, rec *state.Record, live, all []apiclient.Key) string {
	for _, k := range all {
		if k.RoleID != "" || k.ID == e.own() || rec.Deleted.Has(k.ID) ||
			slices.ContainsFunc(live, func(l apiclient.Key) bool { return l.ID == k.ID }) {
			continue
		}
		g, err := e.client().GetKey(ctx, k.ID)
		if err == nil && g.ID == k.ID && g.RoleID != "" && rec.RoleID != "" && !sameRoleID(g.RoleID, rec.RoleID) {
			continue // another credential under the name
		}
		return k.ID
	}
	return ""
}

// selfMatcher returns what the Self policies' Match says of a name and
// role, worked out once (nil without a Self policy): before the listing
// names rotatord's own key, each selfMatch reads the whole journal.
func (e *Engine) selfMatcher(policies []Policy) func(name, roleID string) bool {
	if !slices.ContainsFunc(policies, func(p Policy) bool { return p.Self != nil }) {
		return nil
	}
	e.mu.Lock()
	selfName, selfRole := e.selfName, e.selfRole
	e.mu.Unlock()
	if selfName != "" {
		return func(name, roleID string) bool { return name == selfName && sameRoleID(roleID, selfRole) }
	}
	type nameRole struct{ name, role string }
	recorded := map[nameRole]bool{}
	for _, p := range e.policies0() {
		if p.Self != nil {
			for _, r := range e.store.List(p.Name) {
				recorded[nameRole{r.Name, strings.ToLower(r.RoleID)}] = true
			}
		}
	}
	return func(name, roleID string) bool { return recorded[nameRole{name, strings.ToLower(roleID)}] }
}

// handle decides and acts for one key name.
func (e *Engine) handle(ctx context.Context, j job, pass *passWork, opts Options) Outcome {
	p, name := *j.policy, j.name
	// Another policy's handler waits for selfRun without its name's lock
	// (lockSharingSelfRun): an own-key handler keeps selfRun for writing
	// through its after_delivery hooks, and the deleter's due deletion of
	// the name must not wait for them.
	unlock := e.lockSharingSelfRun(name, p.Self == nil)
	defer unlock()
	// Counted before the unlock, so the pass's next job on this name (for
	// another policy: two roles under one name) expects this handler's bump.
	defer pass.add(name)
	log := e.log.With(zap.String("policy", p.Name), zap.String("name", name))
	o := Outcome{Policy: p.Name, Name: name}
	// selfRun before the install lock: a handler lets the install lock go
	// around its hooks (afterDeliveryInPass; outsideInstall: the consumer
	// check, a catch-up's after_delivery) but keeps selfRun, and takes the
	// install lock again after them, behind a reload waiting for it. A
	// handler that held the install lock while it waited for selfRun would
	// hold that reload, and so the first handler, for good.
	if p.Self != nil {
		e.selfRun.Lock()
		defer e.selfRun.Unlock()
	} else {
		defer e.selfRun.RUnlock() // taken with the name's lock
	}
	if !e.enterHandler() {
		log.Info("a reload is waiting: the next pass acts under the new policies")
		o.Decision = Decision{Action: ActionNone, Reason: ReasonReloaded}
		return o
	}
	defer e.install.RUnlock()
	ctx = e.reloadInterrupt(ctx)
	ctx = context.WithValue(ctx, passHandlerKey{}, j.policyGen)
	if !opts.DryRun && !e.inForce(j.policyGen) {
		log.Info("policies reloaded during the pass: the next pass acts under the new ones")
		o.Decision = Decision{Action: ActionNone, Reason: ReasonReloaded}
		return o
	}
	if !opts.DryRun && e.generation(name) != j.gen+pass.get(name) {
		// Another pass, or the deleter, acted on this name since this pass
		// listed the keys: live may show keys that are gone and miss keys
		// just made. Acting on it could rotate again and leave the key just
		// delivered alive with no sink holding it. That handler saw the
		// name as it is; the next pass decides.
		o.Decision = Decision{Action: ActionNone, Reason: ReasonConcurrent}
		return o
	}

	if p.Self != nil && !opts.DryRun {
		e.followStore(ctx, p)
	}
	now := e.now()
	stored, known := e.store.Get(p.Name, name)
	rec, changed := Reconcile(now, stored, known, p.Name, name, j.live, p.AdoptRotate)
	adopted := false // a rotation recorded from what the sinks hold: its deletion is scheduled
	e.pruneDeleted(&rec, j.all, now)
	if pruneDeliveries(&rec, p) {
		changed = true
	}
	// Also in a dry run (plan), which writes nothing: what it shows must be
	// what a pass would decide from the same deliveries.
	if !known && inheritDeliveries(&rec, p, pass.staleDeliveries(e, name)) {
		changed = true
	}
	lingered := !opts.DryRun && e.deleteLingering(ctx, p, &rec, j.all, now)
	if lingered {
		changed = true
	}
	if !opts.DryRun && rec.RetriedCreate != nil && e.searchRetried(ctx, p, &rec, pass.search) {
		changed = true
	}
	live := withoutDeleted(j.live, rec)
	ownKeyID := e.own()
	if p.Self != nil {
		ownKeyID = "" // this policy is the one that rotates it
	}
	// The own key's name, in any role: the policy leaves the whole name
	// alone (below), so no adoption writes its sinks first.
	ownHere := ownKeyID != "" && slices.ContainsFunc(j.all, func(k apiclient.Key) bool { return k.ID == ownKeyID })
	// A stale record given only keys of other roles, while another
	// policy's record manages the name's key of its role: it yields the
	// name as one whose keys are gone (forgotten after the settle time;
	// the keys then go to the policies that match them, as new). Rotated,
	// it made a key of its role, and its rotation in flight took the
	// other policy's key and deleted it: ci put back first with its
	// record of the key ci2 had deleted, and a key of a role ci2 does
	// not match made under the name.
	yielded := known && !ownHere && e.yieldsRole(p, &rec, live, j.all)
	if yielded {
		live = nil
	}
	for _, k := range live {
		o.KeyIDs = append(o.KeyIDs, k.ID)
	}
	if sameRole(live, rec.RoleID) > 1 && rec.Rotation == nil && !opts.DryRun && !ownHere {
		// Several keys and no rotation in flight: the state was lost or
		// restored from an older copy, or someone made a key by hand.
		// Trust the sinks, or no one.
		if e.adoptFromSinks(ctx, p, &rec, live, now, pass) {
			changed, adopted = true, true
		}
	}

	// Keys of several roles under the name, none known as the current one,
	// and no role on record that one of them has (Reconcile takes none: the
	// first key listed may be a key someone else made under the name). The
	// sinks say which key is the consumer's; if none does, the name is not
	// rotated (a new key of the wrong role would replace the consumer's).
	rolesUnknown := rec.CurrentKeyID == "" && rec.Rotation == nil && !ownHere && distinctRoles(live) > 1 &&
		!slices.ContainsFunc(live, func(k apiclient.Key) bool { return k.RoleID != "" && sameRoleID(k.RoleID, rec.RoleID) })
	if rolesUnknown && !opts.DryRun {
		if k, ok := e.heldBySinks(ctx, p, rec.Name, live); ok {
			rec.CurrentKeyID, rec.RoleID = k.ID, k.RoleID
			if !p.AdoptRotate {
				rec.CurrentSince = now
			}
			changed, rolesUnknown = true, false
			log.Info("keys of several roles under the name: the sinks hold this one, which is taken as current", zap.String("key_id", k.ID), zap.String("role_id", k.RoleID))
		}
	}

	if !opts.DryRun && e.newKeyVanished(ctx, p, &rec, j.all, now) {
		changed = true
	}
	if !opts.DryRun && rec.Rotation != nil {
		var inForce bool
		if ctx, inForce = e.afterDeliveryInPass(ctx, p, &rec); !inForce {
			// Reloaded while the hooks ran: the next pass decides under
			// the new policies. What this one noted of the listing is
			// kept, as the rest of the handler would have.
			if changed {
				if err := e.store.Put(rec); err != nil {
					o.Err = err
					return o
				}
				if adopted && rec.Rotation != nil {
					e.deletionScheduled(rec.Rotation.DeleteAfter)
				}
			}
			log.Info("policies reloaded during the after_delivery hooks: the next pass acts under the new ones")
			o.Decision = Decision{Action: ActionNone, Reason: ReasonReloaded}
			return o
		}
	}
	if !opts.DryRun {
		e.settleFailureHooks(p, &rec)
	}
	d := Decide(Input{
		Now: now, MaxAge: p.MaxAge, Force: opts.Force, IgnoreBackoff: opts.IgnoreBackoff,
		OwnKeyID: ownKeyID, Live: live, Record: rec,
		JitterOffset: JitterOffset(name, p.Jitter), Windows: p.Windows, IgnoreWindows: opts.IgnoreWindows, GracePeriod: p.GracePeriod,
	})
	if p.Self == nil && ownKeyID != "" && slices.ContainsFunc(j.all, func(k apiclient.Key) bool { return k.ID == ownKeyID }) {
		// The own key's name, whatever the role of the keys this policy
		// has there: a policy matching it leaves the whole name alone.
		d = Decision{Action: ActionSkip, Reason: ReasonOwnKey}
	}
	if rolesUnknown && d.Action != ActionSkip {
		d = Decision{Action: ActionNone, Reason: ReasonRolesUnknown}
	}
	if opts.DryRun && d.Action != ActionSkip && !rolesUnknown && !ownHere && rec.Rotation == nil &&
		sameRole(live, rec.RoleID) > 1 && currentDelivered(p, &rec, live) {
		// A pass first adopts from the sinks (adoptFromSinks, which a dry
		// run does not read): the current key on record, delivered to a
		// sink and still listed, is kept and the other keys of its role
		// (one made by hand) are deleted after the grace period. Shown as
		// "two live keys already", plan said nothing would happen.
		// The deletion waits, as any grace period's end, for the
		// policy's next window.
		due := now.Add(p.GracePeriod)
		if !opts.IgnoreWindows && !p.Windows.Contains(due) {
			if next := p.Windows.NextOpen(due); !next.IsZero() {
				due = next
			}
		}
		d = Decision{Action: ActionNone, Reason: ReasonRetireOthers, Due: due}
	}
	if p.Self == nil && d.Action == ActionRotate {
		if id := e.roleUnlistedOfName(ctx, &rec, j.live, j.all); id != "" {
			log.Info("rotation due and waits: a key of the name is listed without its role, which a GET does not give or gives as the name's",
				zap.String("key_id", id))
			d = Decision{Action: ActionNone, Reason: ReasonRoleUnlisted}
		}
	}
	if p.Self != nil && d.Action == ActionRotate && pass.ownNameUnknown {
		// A key of the name left out of the listing may be an own key
		// (made by hand, or one a journal restored from an older copy
		// does not name): rotating past it made a third key of the name.
		log.Info("rotatord's own key is due and waits: the role of a key of its name (left out of this pass), or its own, is unknown")
		d = Decision{Action: ActionNone, Reason: ReasonOwnNameUnknown}
	}
	if p.Self != nil && d.Action == ActionRotate {
		if other, busy := e.othersInFlight(p.Name); busy {
			log.Info("rotatord's own key is due and waits for the rotations in flight", zap.String("in_flight", other))
			d = Decision{Action: ActionNone, Reason: ReasonOthersInFlight}
		}
	}
	if p.Self != nil && (rec.Rotation == nil || rec.Rotation.Phase == state.PhaseDelivered) {
		if left := e.formerOwnKeys(name, &rec, j.all); len(left) > 0 {
			// rotatord signs with a key of another name or role (the
			// store given another key by hand, then a restart): the keys
			// of the former own name and role are still live, and the
			// newer one's secret may be in no store any more. Neither
			// rotated nor deleted (the store is the operator's input),
			// but never out of sight: every pass fails, naming them.
			o.KeyIDs = left
			o.Decision = Decision{Action: ActionNone, Reason: ReasonFormerOwnKeys}
			o.Err = fmt.Errorf("rotatord now signs with key %s (name %s, role %s), and %d live key(s) of its former own name %s and role %s are left: %s; delete them by hand once nobody uses them, or put the former own key back in the credential store",
				e.own(), shown(e.selfNameNow()), shown(e.selfRoleNow()), len(left), shown(name), shown(rec.RoleID), strings.Join(left, ", "))
			if opts.DryRun {
				return o
			}
			log.Error("live keys of rotatord's former own name and role: neither rotated nor deleted", zap.Strings("key_ids", left), zap.String("own_key_id", e.own()))
			if changed {
				if err := e.store.Put(rec); err != nil {
					o.Err = errors.Join(o.Err, err)
				}
			}
			return o
		}
	}
	if opts.DryRun && d.Action == ActionRecover && (rec.Rotation.Phase == state.PhaseIntent || rec.Rotation.NewKeyID == "") {
		// An orphan search: a pass searches now, and keeps the intent
		// until the API has settled. Say until when.
		if due := e.searchDue(rec.Rotation, pass.listedAt, pass.serverNow); pass.listedAt.Before(due) {
			d = Decision{Action: ActionRecover, Reason: ReasonCreateSettle, Due: due}
		}
	}
	// A loss a check found and nothing could refill since (stillLost): a
	// new key for every sink. A pass decides so once syncSinks had its
	// chance (below); a dry run, which writes nothing, says it now.
	lostDecision := func() Decision {
		return Decide(Input{
			Now: now, MaxAge: p.MaxAge, IgnoreBackoff: opts.IgnoreBackoff, OwnKeyID: ownKeyID, Live: live, Record: rec,
			JitterOffset: JitterOffset(name, p.Jitter), Windows: p.Windows, IgnoreWindows: opts.IgnoreWindows, SinkLost: true, GracePeriod: p.GracePeriod,
		})
	}
	rotatesForLoss := func() bool {
		return d.Action == ActionNone && rec.Rotation == nil && (d.Reason == ReasonFresh || d.Reason == ReasonOutsideWindow) &&
			stillLost(p, &rec) && !e.lossUnwritable(p, name)
	}
	if opts.DryRun && rotatesForLoss() {
		d = lostDecision()
	}
	o.Decision = d
	if opts.DryRun {
		if rec.Failures > 0 {
			o.LastError = rec.LastError // a pass that acts has its own Err
		}
		if d.Action == ActionRotate || d.Action == ActionRecover {
			// What the pass would refuse before any key is made: a sink
			// target another name holds (claiming nothing).
			o.Err = e.checkTargets(pass.targetsOf(e), p, name, false)
		}
		return o
	}
	switch d.Action {
	case ActionSkip:
		log.Warn("skipping key name", zap.String("reason", string(d.Reason)))
		if lingered && known {
			// A key deleted again above: that, and only that, is recorded,
			// or every pass would delete it again instead of once per
			// settle time. The rest of the name stays as it was.
			kept := stored
			kept.Deleted = rec.Deleted
			if err := e.store.Put(kept); err != nil {
				o.Err = err
			}
		}
		return o
	case ActionNone:
		if d.Reason == ReasonRolesUnknown && (!known || changed) {
			log.Warn("not rotating: the name has keys of several roles and no sink holds any of them, so which role its consumer needs is unknown; delete the keys no consumer uses, or narrow the policy's match to one role",
				zap.Strings("key_ids", o.KeyIDs))
		}
		if d.Reason == ReasonTwoKeys && (e.firstTwoKeysWarning(p.Name, name) || !known || changed) {
			log.Warn("not rotating: the name already has two live keys and a third would leave one nobody needs; delete the key no consumer uses",
				zap.Strings("key_ids", o.KeyIDs))
		}
	}
	if len(live) == 0 && rec.Rotation == nil {
		// Every key of the name is gone: nothing left to manage, once
		// listings have shown none for the settle time (one listing that
		// omits the keys would otherwise forget their ages, the keys the
		// API still lists after their deletion, and the fingerprints).
		switch {
		case !known:
		case rec.RetriedCreate != nil:
			// The search for a retried create's keys (run above) is not
			// over: the record stays, and what it found is kept.
			if changed {
				if err := e.store.Put(rec); err != nil {
					o.Err = err
				}
			}
		case len(j.live) > 0 && !yielded:
			// Keys the API acknowledged deleting are still listed: the
			// record that says so stays, or the next pass would take
			// one for a new name's key (and with adopt: rotate, make a
			// key for a name that is gone).
		case rec.NoKeysSince.IsZero():
			rec.NoKeysSince = now
			if err := e.store.Put(rec); err != nil {
				o.Err = err
			}
		case !now.Before(rec.NoKeysSince.Add(e.settleTime())):
			if err := e.store.Delete(p.Name, name); err != nil {
				o.Err = err
			}
			e.forgetSinkCheck(p, name)
			log.Info("forgetting key name: no key left")
		}
		return o
	}
	if !rec.NoKeysSince.IsZero() {
		rec.NoKeysSince, changed = time.Time{}, true // keys are listed again
	}
	if d.Action == ActionNone && (rec.Rotation == nil || graceCheck(p, &rec)) {
		forgot, _, edited := e.checkSinks(ctx, p, &rec, live, now)
		if forgot {
			changed = true
		}
		if e.syncSinks(ctx, p, &rec, live, pass, edited) {
			changed = true
		}
		if rotatesForLoss() {
			// Nothing could refill the sink: a new key for every sink.
			d = lostDecision()
			o.Decision = d
		}
	}
	if changed {
		if err := e.store.Put(rec); err != nil {
			o.Err = err
			return o
		}
		if adopted && rec.Rotation != nil {
			e.deletionScheduled(rec.Rotation.DeleteAfter)
		}
	}

	switch d.Action {
	case ActionRotate:
		if e.stopping != nil && e.stopping() {
			// A stop lets the rotations in flight finish and starts no
			// other: with leader_election the Lease is released once
			// they are done, and a standby takes over at once.
			log.Info("rotation due, not started: rotatord is stopping", zap.String("reason", string(d.Reason)))
			o.Decision = Decision{Action: ActionNone, Reason: ReasonStopping}
			break
		}
		if err := ctx.Err(); err != nil {
			// The pass was cut (once's SIGINT, a lost Lease, the end of
			// a stop's 30 s) while this handler decided: a rotation
			// started now could only fail, and its failure would count
			// (a backoff, on_failure, an intent to search out). As for
			// the names the pass did not start (Pass).
			log.Info("rotation due, not started: the pass was cut", zap.String("reason", string(d.Reason)))
			// Not ReasonStopping: a stop is told above; this cut may
			// be no stop at all (once's SIGINT, a lost Lease).
			o.Decision = Decision{Action: ActionNone, Reason: ReasonCutRotation}
			o.Err = err
			break
		}
		log.Info("rotation due", zap.String("reason", string(d.Reason)))
		if err := e.claimTargets(pass.targetsOf(e), p, name); err != nil {
			o.Err = e.fail(p, &rec, now, err) // before any key is made
			break
		}
		o.Err = e.rotate(ctx, j, &rec, live, pass)
		if o.Err == nil && p.SinkCheck > 0 {
			// Every sink was written and read back: as good as a check.
			e.setSinkCheck(p, name, now)
		}
	case ActionRecover:
		if err := ctx.Err(); err != nil {
			// Cut as a rotation is above: under the cancelled context
			// the recovery's requests could only fail, and that
			// failure would count (a backoff, on_failure owed) though
			// nothing was tried. A stop that lets the work in flight
			// finish (Config.Stopping) still recovers: a rotation in
			// flight is finished or rolled back before the Lease goes.
			log.Info("recovery due, not started: the pass was cut", zap.String("phase", string(rec.Rotation.Phase)))
			reason := ReasonCutRecovery
			if e.stopping != nil && e.stopping() {
				reason = ReasonStopping // the end of a stop's 30 s
			}
			o.Decision = Decision{Action: ActionNone, Reason: reason}
			o.Err = err
			break
		}
		log.Warn("recovering interrupted rotation", zap.String("phase", string(rec.Rotation.Phase)))
		// A recovery may deliver to a sink a reload added since the
		// intent: its target must be the name's, as for a rotation.
		if err := e.claimTargets(pass.targetsOf(e), p, name); err != nil {
			o.Err = e.fail(p, &rec, now, err)
			break
		}
		o.Err = e.recoverRotation(ctx, p, &rec, pass)
	case ActionDelete:
		o.Err = e.deleteOld(ctx, p, &rec, false, listedByID(j.all), pass)
	}
	if wait, ok := asWait(o.Err); ok {
		o.Err = nil
		action := ActionNone
		if (d.Action == ActionRotate || d.Action == ActionRecover) && rec.Rotation != nil && rec.Rotation.Phase == state.PhaseDelivered {
			// Every sink holds the new key; what waits is the deletion
			// of the old ones (grace_period 0): the name was rotated,
			// and the pass's summary and once say so. The reason is
			// the wait's (a reload's makes the scheduler run the pass
			// again; once waits for a confirmation's).
			action = d.Action
		}
		o.Decision = Decision{Action: action, Reason: wait.reason, Due: wait.due}
	}
	// After a recovery, the store must hold a key that signs; not after a
	// reload during the after_delivery hooks (p is no longer in force: the
	// reload followed the store it put in force).
	if p.Self != nil && e.inForce(j.policyGen) {
		e.followStore(ctx, p)
	}
	return o
}

// lockSharingSelfRun is lock(name); shared, it also takes selfRun for
// reading, waiting for it without the name's lock: an own-key handler
// holds selfRun for writing through its after_delivery hooks (up to their
// timeout), and a name locked meanwhile would hold the deleter's due
// deletion of it, and an on_failure hook's clearing (clearFailureHooks,
// which a stop waits for), as long. The own-key handler takes its name's
// lock, then selfRun: no handler waits for a name's lock holding selfRun,
// so the two never wait for each other. A wait does not count in the
// name's generation (lock's unlock does).
func (e *Engine) lockSharingSelfRun(name string, shared bool) (unlock func()) {
	if !shared {
		return e.lock(name)
	}
	for {
		u := e.locks.Lock(name)
		if e.selfRun.TryRLock() {
			return e.countedUnlock(name, u)
		}
		u()
		e.selfRun.RLock() // behind an own-key handler: without the name's lock
		e.selfRun.RUnlock()
	}
}

// yieldsRole says whether rec, p's record of a name with no rotation in
// flight, is given no key of its role (live: only keys of other roles)
// while another policy in force has a record of the name up to date with
// a key of that role (listed in all), or a rotation of that role in
// flight.
func (e *Engine) yieldsRole(p Policy, rec *state.Record, live, all []apiclient.Key) bool {
	role := rec.RoleID
	if p.Self != nil || rec.Rotation != nil || role == "" || len(live) == 0 ||
		slices.ContainsFunc(live, func(k apiclient.Key) bool {
			return k.ID == rec.CurrentKeyID || k.RoleID == "" || sameRoleID(k.RoleID, role)
		}) {
		return false
	}
	policies, _ := e.snapshotPolicies()
	for _, q := range policies {
		if q.Name == p.Name || q.Self != nil {
			continue
		}
		r, ok := e.store.Get(q.Name, rec.Name)
		if !ok {
			continue
		}
		if rot := r.Rotation; rot != nil {
			if sameRoleID(cmp.Or(rot.RoleID, r.RoleID), role) {
				return true
			}
			continue
		}
		cur := r.CurrentKeyID
		if cur != "" && !r.Deleted.Has(cur) && !rec.Deleted.Has(cur) &&
			slices.ContainsFunc(all, func(k apiclient.Key) bool { return k.ID == cur && sameRoleID(k.RoleID, role) }) {
			return true
		}
	}
	return false
}

// distinctRoles counts the roles of keys (an unknown role counts as none).
func distinctRoles(keys []apiclient.Key) int {
	seen := make([]string, 0, 2)
	for _, k := range keys {
		if k.RoleID != "" && !slices.ContainsFunc(seen, func(r string) bool { return sameRoleID(r, k.RoleID) }) {
			seen = append(seen, k.RoleID)
		}
	}
	return len(seen)
}

// heldBySinks returns the key of live that a sink of p holds for name, the
// first sink that gives one back deciding.
func (e *Engine) heldBySinks(ctx context.Context, p Policy, name string, live []apiclient.Key) (apiclient.Key, bool) {
	for _, i := range deliveryOrder(p.Sinks) {
		h, err := p.Sinks[i].Read(ctx, name)
		if err != nil {
			continue
		}
		for _, k := range live {
			if k.ID == h.KeyID {
				return k, true
			}
		}
	}
	return apiclient.Key{}, false
}

// withoutDeleted drops the keys the record says the API deleted.
func withoutDeleted(live []apiclient.Key, rec state.Record) []apiclient.Key {
	if len(rec.Deleted) == 0 {
		return live
	}
	out := make([]apiclient.Key, 0, len(live))
	for _, k := range live {
		if gone := rec.Deleted.Has(k.ID); !gone {
			out = append(out, k)
		}
	}
	return out
}

func listedByID(keys []apiclient.Key) map[string]apiclient.Key {
	m := make(map[string]apiclient.Key, len(keys))
	for _, k := range keys {
		m[k.ID] = k
	}
	return m
}

// adoptFromSinks handles several live keys of a name with no rotation in
// flight: the state was lost or is older than what happened, or someone
// made a key by hand. The first sink, in
// delivery order, that gives back a live key with its secret names the key
// to keep (rotatord writes the sinks it can read back first, so that one
// holds the latest delivery). That key is written to every sink that does
// not say it holds it, then adopted; the other keys are old keys whose
// grace period starts now. With no such sink nothing is known, and no key
// is scheduled for deletion.
func (e *Engine) adoptFromSinks(ctx context.Context, p Policy, rec *state.Record, live []apiclient.Key, now time.Time, pass *passWork) bool {
	log := e.log.With(zap.String("policy", p.Name), zap.String("name", rec.Name))
	liveIDs := map[string]bool{}
	for _, k := range live {
		liveIDs[k.ID] = true
	}
	var cred *sinks.Credential
	// The key on record as current, while a sink still holds it with its
	// secret, is kept: the record and that sink agree. Another sink's key
	// may be one someone wrote there (a consumer owns its file) with a
	// secret that is not the key's; copied to the other sinks, it would
	// leave every consumer without a valid key once the current one goes.
	// A file a sink check found lost (emptied, or edited by its consumer
	// under the key's id) is no source until written again, as in
	// syncSinks: its secret may be its consumer's own.
	untrusted := func(s sinks.Sink) bool { return lostFingerprinted(s, rec) }
	if cur := rec.CurrentKeyID; cur != "" && liveIDs[cur] {
		for _, i := range deliveryOrder(p.Sinks) {
			h, err := p.Sinks[i].Read(ctx, rec.Name)
			if err == nil && h.KeyID == cur && !h.Secret.IsZero() && !untrusted(p.Sinks[i]) {
				cred = &sinks.Credential{Name: rec.Name, KeyID: cur, RoleID: rec.RoleID, Secret: h.Secret, CreatedAt: now.UTC()}
				break
			}
		}
	}
	if cred == nil {
		for _, i := range deliveryOrder(p.Sinks) {
			h, err := p.Sinks[i].Read(ctx, rec.Name)
			if err == nil && liveIDs[h.KeyID] && !h.Secret.IsZero() && !untrusted(p.Sinks[i]) {
				cred = &sinks.Credential{Name: rec.Name, KeyID: h.KeyID, RoleID: rec.RoleID, Secret: h.Secret, CreatedAt: now.UTC()}
				break
			}
		}
	}
	if cred == nil {
		return false
	}
	for _, k := range live {
		if k.ID == cred.KeyID && k.RoleID != "" {
			cred.RoleID = k.RoleID
		}
	}
	rot := &state.Rotation{
		Phase: state.PhaseDelivered, StartedAt: now, NewKeyID: cred.KeyID, NewCreatedAt: now.UTC(), RoleID: cred.RoleID,
		DeliveredAt: now, DeleteAfter: now.Add(p.GracePeriod), Sinks: map[string]state.SinkMark{},
	}
	for _, k := range live {
		rot.KnownKeyIDs = append(rot.KnownKeyIDs, k.ID)
		if k.ID != cred.KeyID && (sameRoleID(k.RoleID, cred.RoleID) || k.RoleID == "") {
			rot.OldKeyIDs = append(rot.OldKeyIDs, k.ID)
		}
	}
	if len(rot.OldKeyIDs) == 0 {
		return false // the other keys are other credentials, of another role
	}
	// Sinks are written from here on (a pass with nothing to write builds
	// no index of the targets).
	if err := e.claimTargets(pass.targetsOf(e), p, rec.Name); err != nil {
		log.Warn("cannot adopt from the sinks", zap.Error(err))
		return false
	}
	markNew(rot, p.Sinks, *cred)
	var delivered state.Deliveries
	// told: every sink's consumer is known to have been given the key
	// (the record names it as delivered there, and it was not written
	// now). Else the adoption is a delivery, and its after_delivery
	// hooks are owed before the old keys go, as a rotation's are.
	told := true
	for _, i := range deliveryOrder(p.Sinks) {
		s := p.Sinks[i]
		sid := sinkID(s, rec.Name)
		if d, ok := rec.Delivered.Get(sid); !ok || d.KeyID != cred.KeyID {
			told = false
		}
		written := false
		if h, err := s.Read(ctx, rec.Name); err != nil || h.KeyID != cred.KeyID || untrusted(s) ||
			!h.Secret.IsZero() && !sameSecret(h.Secret, cred.Secret) {
			// Another key, none, or a sink that cannot say: give it the
			// adopted key, so that it cannot hold one about to go. So
			// too a sink that names it with another secret, or that a
			// check found lost.
			if err := e.writeTo(ctx, p, i, *cred); err != nil {
				log.Warn("cannot adopt: a sink does not take the key the others hold", zap.String("sink", sinkLabel(i, s)), zap.Error(err))
				return false
			}
			written, told = true, false
		}
		m := rot.Sinks[sid]
		m.Delivered = true
		rot.Sinks[sid] = m
		d := state.Delivery{KeyID: cred.KeyID, Fingerprint: m.New}
		if !written {
			// A sink left as it was holds what someone else wrote
			// (another created_at): a fingerprint of the adopted
			// credential would say it changed. What it holds now is
			// recorded instead, so that a later edit is seen.
			d.Fingerprint = foundFingerprint(ctx, s, rec.Name)
		}
		delivered.Set(sid, d)
	}
	if rec.CurrentKeyID != cred.KeyID {
		rec.CurrentKeyID = cred.KeyID
		rec.CurrentSince = now
		if p.AdoptRotate {
			rec.CurrentSince = time.Time{}
		}
	}
	if !told && hasHook(p, hooks.AfterDelivery) {
		// Owed in the record of the adoption. A crash after the writes,
		// before that record, adopts again without a write: the record's
		// deliveries still do not name the key, so they are owed then too.
		rot.HooksPending = append(rot.HooksPending, hooks.AfterDelivery)
	}
	rec.RoleID = cred.RoleID
	rec.Delivered = delivered
	rec.Rotation = rot
	rec.Failures, rec.LastError, rec.LastFailure = 0, "", time.Time{}
	log.Warn("adopted the key a sink holds; the other keys of the name will be deleted after the grace period",
		zap.String("key_id", cred.KeyID), zap.Strings("old_key_ids", rot.OldKeyIDs))
	return true
}

// currentDelivered reports whether the record's current key is listed and
// on record as delivered to one of the policy's sinks that gives back what
// it holds (the adoption reads the key and its secret from it: a free-form
// template gives neither, and with no other sink nothing is adopted) and
// that a sink check did not find lost: the key a pass's adoption from the
// sinks keeps, as far as the record can tell without reading them.
func currentDelivered(p Policy, rec *state.Record, live []apiclient.Key) bool {
	cur := rec.CurrentKeyID
	if cur == "" || !slices.ContainsFunc(live, func(k apiclient.Key) bool { return k.ID == cur }) {
		return false
	}
	for _, s := range p.Sinks {
		if d, ok := rec.Delivered.Get(sinkID(s, rec.Name)); ok && d.KeyID == cur && sinks.CanReadBack(s) && !lostFingerprinted(s, rec) {
			return true
		}
	}
	return false
}

// deleteLingering deletes again, once per settle time, a key rotatord
// deleted that listings still show the settle time later. Most are
// zombies, whose DELETE answers "not in organization" again until the
// platform removes them; but a create the API applied late answers the
// same before it applies, and lives on after: without this, a key nobody
// holds. It reports whether the record changed.
func (e *Engine) deleteLingering(ctx context.Context, p Policy, rec *state.Record, listed []apiclient.Key, now time.Time) bool {
	settle := e.settleTime()
	changed := false
	for _, d := range slices.Clone(rec.Deleted) {
		id, at := d.ID, d.At
		i := slices.IndexFunc(listed, func(k apiclient.Key) bool { return k.ID == id })
		if i < 0 || now.Before(at.Add(settle)) || id == e.own() || listed[i].Name != rec.Name {
			continue
		}
		if rot := rec.Rotation; rot != nil && (id == rot.NewKeyID || id == rec.CurrentKeyID) {
			continue
		}
		k := listed[i]
		if k.RoleID == "" {
			// Listed without its role (every field of the API's schema is
			// optional): read as another role, the key was never deleted
			// again. Its role is asked for by GET (the pass's listing is
			// the one that left it out); unknown, it is asked again a
			// settle time later, like a deletion again: at every pass, an
			// API that never says the role cost a GET and a listing of
			// the whole organization per such key and pass.
			g, err := e.client().GetKey(ctx, id)
			if err != nil || g.ID != id || cmp.Or(g.Name, k.Name) != rec.Name || g.RoleID == "" {
				rec.Deleted.Set(id, now)
				changed = true
				continue
			}
			k.RoleID = g.RoleID
		}
		if rec.RoleID != "" && !sameRoleID(k.RoleID, rec.RoleID) {
			// rotatord deletes only keys of the record's name and role (a
			// policy changed since may no longer match them, and a key it
			// created is deleted whatever the match): the record was
			// edited to name a key of another role under the name.
			e.log.Error("refusing to delete again a key the record says was deleted but of another role than the record's (an edited state record?)",
				zap.String("policy", p.Name), zap.String("name", rec.Name), zap.String("key_id", id), zap.String("api_role_id", shown(k.RoleID)))
			e.deletionRefused(p)
			continue
		}
		// Judged on the pass's listing, as the pass gave the name: with
		// the lingering key alone, a stale record of it placed first
		// would keep it (ci put back first, its record of the key ci2
		// deleted, which the API still lists), and the deletion again
		// was refused as of "an edited state record", pass after pass.
		if other := e.managedElsewhere(p, k, listed); other != "" {
			_ = e.refuseManagedElsewhere(p, rec, id, other)
			continue
		}
		if err := e.blocksDeletion(ctx, p, rec, id); err != nil {
			continue
		}
		if err := e.client().DeleteKey(ctx, id); err != nil {
			e.log.Warn("deleting again a key the API still lists after its deletion failed", zap.String("policy", p.Name),
				zap.String("name", rec.Name), zap.String("key_id", id), zap.Error(err))
			continue
		}
		e.log.Info("deleted again a key the API still listed after its deletion", zap.String("policy", p.Name),
			zap.String("name", rec.Name), zap.String("key_id", id))
		rec.Deleted.Set(id, now)
		changed = true
	}
	return changed
}

// pruneDeliveries forgets the deliveries to targets no sink of p renders
// for the name now (a sink a reload removed, or whose path changed): the
// name gave them up, and another name may take them (targets.go). Kept,
// such an entry would claim the target back if the sink returned, and
// tell syncSinks it holds the name's key whoever wrote there since.
func pruneDeliveries(rec *state.Record, p Policy) bool {
	stale := func(d state.SinkDelivery) bool { return !renders(p, d.Sink, rec.Name) }
	if !slices.ContainsFunc(rec.Delivered, stale) {
		return false // no garbage on every handled name
	}
	keep := make(state.Deliveries, 0, len(rec.Delivered))
	for _, d := range rec.Delivered {
		if !stale(d) {
			keep = append(keep, d)
		}
	}
	rec.Delivered = keep
	return true
}

// pruneDeleted forgets the keys the API acknowledged deleting once
// listings have stopped showing them for the settle time: a single listing
// that lags does not bring a deleted key back into the name's live keys.
func (e *Engine) pruneDeleted(rec *state.Record, listed []apiclient.Key, now time.Time) {
	settle := e.settleTime()
	for _, d := range slices.Clone(rec.Deleted) {
		id, at := d.ID, d.At
		if !slices.ContainsFunc(listed, func(k apiclient.Key) bool { return k.ID == id }) && !now.Before(at.Add(settle)) {
			rec.Deleted.Delete(id)
		}
	}
}

// syncSinks gives the current key to every sink rotatord has no record of
// delivering to (one a reload added), copying it from a sink that gives it
// back: a consumer of a new sink gets a key at the next pass, not at the
// next rotation. It reports whether the record changed. Sinks are read
// only when the set of sinks changed, so a pass over unchanged names costs
// no I/O.
//
// The sinks in rewrite (a sink check found them edited under the current
// key's id) are written whatever they read back, and so is a file an
// earlier check found lost (lostFingerprinted): the check may have been
// outside the policy's windows, or made by a process since restarted.
func (e *Engine) syncSinks(ctx context.Context, p Policy, rec *state.Record, live []apiclient.Key, pass *passWork, rewrite []string) bool {
	if rec.CurrentKeyID == "" || !slices.ContainsFunc(live, func(k apiclient.Key) bool { return k.ID == rec.CurrentKeyID }) {
		return false
	}
	var missing []int
	for i, s := range p.Sinks {
		if d, ok := rec.Delivered.Get(sinkID(s, rec.Name)); !ok || d.KeyID != rec.CurrentKeyID {
			missing = append(missing, i)
		}
	}
	if len(missing) == 0 {
		return false
	}
	cred := e.trustedCopy(ctx, p, rec, rewrite)
	changed, claimed := false, false
	for _, i := range missing {
		s := p.Sinks[i]
		sid := sinkID(s, rec.Name)
		// A sink that names the current key with a secret other than the
		// one a trusted sink gives back holds a copy someone made wrong:
		// written, not taken as held (its consumer's key signs nothing,
		// and a later repair would copy that secret to other sinks).
		if h, err := s.Read(ctx, rec.Name); err == nil && h.KeyID == rec.CurrentKeyID && !slices.Contains(rewrite, sid) &&
			!lostFingerprinted(s, rec) && (cred == nil || h.Secret.IsZero() || sameSecret(h.Secret, cred.Secret)) {
			rec.Delivered.Set(sid, state.Delivery{KeyID: rec.CurrentKeyID, Fingerprint: foundFingerprint(ctx, s, rec.Name)})
			changed = true
			continue
		}
		if cred == nil {
			continue // nothing to copy from: the next rotation fills it
		}
		if !claimed {
			// A write follows: only now the targets are checked (a pass
			// over names that need none builds no index of them).
			if err := e.claimTargets(pass.targetsOf(e), p, rec.Name); err != nil {
				e.log.Warn("cannot give the current key to a sink that does not hold it", zap.String("policy", p.Name),
					zap.String("name", rec.Name), zap.Error(err))
				return changed
			}
			claimed = true
		}
		c := *cred
		c.CreatedAt = rec.CurrentSince.UTC()
		if c.CreatedAt.IsZero() {
			c.CreatedAt = e.now().UTC()
		}
		label := sinkLabel(i, s)
		if err := e.writeTo(ctx, p, i, c); err != nil {
			e.log.Warn("cannot give the current key to a sink that does not hold it", zap.String("policy", p.Name),
				zap.String("name", rec.Name), zap.String("sink", label), zap.Error(err))
			continue
		}
		d := state.Delivery{KeyID: rec.CurrentKeyID}
		if fp, ok := s.(sinks.Fingerprinter); ok {
			d.Fingerprint, _ = fp.Fingerprint(c)
		}
		rec.Delivered.Set(sid, d)
		changed = true
		e.log.Info("delivered the current key to a sink that did not hold it", zap.String("policy", p.Name), zap.String("name", rec.Name),
			zap.String("sink", label), zap.String("target", s.Target(rec.Name)), zap.String("key_id", rec.CurrentKeyID))
	}
	return changed
}

// firstTwoKeysWarning reports whether this process has not reported yet
// that the name waits for an operator with two live keys, and notes that
// it has: each process says so at least once, not only the pass that saw
// the record change (a restart, or a pass that recovered a rotation,
// would leave it unsaid).
func (e *Engine) firstTwoKeysWarning(policy, name string) bool {
	return e.firstWarning(e.warnedTwoKeys, recordKey{policy, name})
}

// firstWarning reports whether k is not in warned (this process has not
// said it yet), and adds it. warned is one of the engine's maps, guarded
// by e.mu, and bounded as warnedNames.
func (e *Engine) firstWarning(warned map[recordKey]bool, k recordKey) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if warned[k] {
		return false
	}
	if len(warned) >= 10000 {
		clear(warned)
	}
	warned[k] = true
	return true
}

// skipName leaves a matching key name alone: its keys are never rotated nor
// deleted, and nothing is written for it. Counted on every pass, logged
// once per process.
func (e *Engine) skipName(p Policy, name string, reason SkipReason) {
	e.nameSkipped(p, reason)
	e.mu.Lock()
	k := recordKey{p.Name, name}
	warned := e.warnedNames[k]
	if len(e.warnedNames) >= 10000 {
		// Names are attacker-chosen: the memory of warnings is bounded.
		clear(e.warnedNames)
	}
	e.warnedNames[k] = true
	e.mu.Unlock()
	if !warned {
		e.log.Warn("skipping a matching key name rotatord will not manage: only letters, digits and . _ - @ + = : are allowed; its keys are left alone",
			zap.String("policy", p.Name), zap.String("name", shown(name)), zap.String("reason", string(reason)))
	}
}

// ignoreWindowsKey marks a pass's context as told to ignore the windows
// (once --ignore-windows), for the steps that do not see its Options.
type ignoreWindowsKey struct{}

func ignoringWindows(ctx context.Context) bool {
	v, _ := ctx.Value(ignoreWindowsKey{}).(bool)
	return v
}

// ownKeyUnlisted decides what a listing without rotatord's own key means.
// The key rotatord signs with is normally one of the organization's keys,
// so such a listing is partial, and acting on it could forget or rotate
// names: refused. Unless the API does not know that credential as a key
// at all (a GET of it answers not found: a credential kept outside the
// key list, as some stand-ins of the API keep their administrator's), in
// which case the listing is whole as far as the API can say. A key the API
// has shown this process is known, whatever a lagging GET says now.
func (e *Engine) ownKeyUnlisted(ctx context.Context, own string) error {
	e.mu.Lock()
	shown := e.ownShown[own]
	e.mu.Unlock()
	if shown {
		return fmt.Errorf("list keys: the listing lacks rotatord's own key %s, which the API has shown: refusing to act on a partial listing", own)
	}
	switch _, err := e.client().GetKey(ctx, own); {
	case err == nil:
		e.noteOwnShown(own)
		return fmt.Errorf("list keys: the listing lacks rotatord's own key %s, which the API knows: refusing to act on a partial listing", own)
	case errors.Is(err, apiclient.ErrNotFound):
		if !e.ownUnlisted.Swap(true) {
			e.log.Warn("the API does not list rotatord's own credential among its keys, nor find it by id: going on; a partial listing cannot be told apart from a whole one",
				zap.String("key_id", own))
		}
		return nil
	default:
		return fmt.Errorf("list keys: the listing lacks rotatord's own key %s, and looking it up failed: %w", own, err)
	}
}

// SkippedName is a key name the last pass of a policy matched and left
// alone, and why (see CheckName). The name is as the API gave it: whoever
// shows it must escape it.
type SkippedName struct {
	Name   string
	Reason SkipReason
}

// maxSkippedShown bounds the skipped names kept per policy: names are
// attacker-chosen, and the metric counts them all.
const maxSkippedShown = 100

func (e *Engine) setSkipped(policy string, names []SkippedName) {
	slices.SortFunc(names, func(a, b SkippedName) int { return strings.Compare(a.Name, b.Name) })
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(names) == 0 {
		delete(e.skipped, policy)
		return
	}
	if e.skipped == nil {
		e.skipped = map[string][]SkippedName{}
	}
	e.skipped[policy] = names
}

// Skipped returns the key names the last pass of policy matched and left
// alone (at most maxSkippedShown), sorted.
func (e *Engine) Skipped(policy string) []SkippedName {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.skipped[policy])
}

// otherAccountListed refuses a listing that shows the key another account
// signs with: both accounts are one organization (Config.OtherAccounts).
func (e *Engine) otherAccountListed(keys []apiclient.Key) error {
	if e.otherAccounts == nil {
		return nil
	}
	others := e.otherAccounts()
	if len(others) == 0 {
		return nil
	}
	for _, k := range keys {
		if name, ok := others[k.ID]; ok {
			return fmt.Errorf("list keys: the listing shows key %s, which account %s signs with: the two accounts are one organization (the same key, or a copied credential file); this account acts no more until each account has its own organization", k.ID, name)
		}
	}
	return nil
}

// followOwnAfterRefusal: the API refused the key rotatord signs with
// (deleted, after an operator put a new one in the credential store by
// hand): sign with what the store holds, if it signs, and report whether
// the key in use changed.
func (e *Engine) followOwnAfterRefusal(ctx context.Context) bool {
	if policies, _ := e.snapshotPolicies(); !slices.ContainsFunc(policies, func(p Policy) bool { return p.Self != nil }) {
		return false // no store to read
	}
	own := e.own()
	e.FollowOwnKey(ctx)
	return e.own() != own
}

// noteOwnShown remembers that the API showed rotatord's own key id.
func (e *Engine) noteOwnShown(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ownShown[id] {
		return
	}
	if e.ownShown == nil || len(e.ownShown) >= 64 {
		e.ownShown = map[string]bool{} // own keys change rarely: bounded anyway
	}
	e.ownShown[id] = true
}

// newKeyVanished handles a delivered rotation whose new key the listing
// lacks while the grace period runs: when the API confirms it gone
// (keyExists: a GET, a listing, and the settle time since its creation),
// the sinks hold a key that signs nothing and the old keys are in no sink.
// Waiting for the grace period to end would leave the consumers cut off
// that long: the rotation is cleared, as the deleter does when it finds
// the new key gone, and the name rotates again in this pass (the old keys
// are the intent's, deleted after the new rotation's grace period).
// It reports whether rec changed.
func (e *Engine) newKeyVanished(ctx context.Context, p Policy, rec *state.Record, all []apiclient.Key, now time.Time) bool {
	rot := rec.Rotation
	if p.Self != nil {
		return false // rotatord's own key: the store decides (followStore)
	}
	if rot == nil || rot.Phase != state.PhaseDelivered || rot.NewKeyID == "" || !now.Before(deleteAt(rot, p.GracePeriod)) {
		return false
	}
	if slices.ContainsFunc(all, func(k apiclient.Key) bool { return k.ID == rot.NewKeyID }) {
		// Listed: this process has seen the new key, and its
		// confirmation delay runs from now (its deletion still asks
		// the API for it first). Confirmed only at the deletion, as
		// after a restart, the old keys were held that delay past the
		// end of the grace period. The deleter needs no word of it: it
		// is armed for the end of the grace period already, and
		// NextDeletion counts the delay when it ends later.
		k := recordKey{p.Name, rec.Name}
		e.mu.Lock()
		if _, seen := e.confirmed[k]; !seen {
			e.confirmed[k] = e.now()
		}
		e.mu.Unlock()
		// A miss noted earlier was the API lagging. The settle
		// time runs again from the next miss, not from that one (two
		// short lags minutes apart are no deletion).
		if rot.NewMissingSince.IsZero() {
			return false
		}
		rot.NewMissingSince = time.Time{}
		return true
	}
	missing := rot.NewMissingSince
	if ex, err := e.keyExists(ctx, rec, rot.NewKeyID, rot.NewCreatedAt); err != nil || ex != gone {
		// When the API first missed the key is kept: the settle time
		// runs from it across passes and restarts.
		return !rot.NewMissingSince.Equal(missing)
	}
	e.log.Warn("the new key vanished during the grace period: keeping the old keys and rotating again",
		zap.String("policy", p.Name), zap.String("name", rec.Name), zap.String("key_id", rot.NewKeyID))
	rec.Rotation = nil
	rec.CurrentKeyID = ""
	rec.Failures, rec.LastError, rec.LastFailure = 0, "", time.Time{} // a new situation
	e.mu.Lock()
	delete(e.confirmed, recordKey{p.Name, rec.Name})
	e.mu.Unlock()
	return true
}
