package rotation

// Key names are chosen by whoever may create API keys, and a sink's target
// is rendered from the name: two names can render the same target ("ci-a"
// with "{{.Name}}.docker.env", "ci-a.docker" with "{{.Name}}.env"). Targets
// are compared as strings, a file sink's without regard to ASCII case
// when its directory folds case (targetHash): two names that differ only
// in case meet on a case-insensitive file system (a CIFS or vfat mount, a
// casefold ext4 directory), and are two files on a case-sensitive one,
// where a key named "ci-RUNNER" must not keep "ci-runner" from rotating.
// The sinks'
// ownership markers name the policy, not the key name, so without this
// check the second name's rotation would replace the first name's
// credential with a key of its own: an outage for the first name's
// consumer, with a key whose name and role someone else chose.
//
// A target belongs to a name when a record of the name says it was
// delivered there, or that its rotation in flight writes there, and a sink
// in force still renders it for the name: a record of a policy in force,
// by that policy's sinks (a sink removed gives its targets up); a record
// of a policy no longer in force (renamed or removed), by the sinks of a
// policy in force that matches the name and the record's role, while the
// key it delivered is listed (a round of deletions has no listing: there
// it counts) and no record in force of the same name and role succeeds it (the successor took over its deliveries when it was
// made: inheritDeliveries). A name that renders a target another name owns
// is refused before any key is made or any sink is written. Among the
// passes under way, the first name to claim a target no record owns has
// it; a target that a record and a claim give to two other names is
// refused to both.

import (
	"fmt"
	"hash/maphash"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/rotatord/rotatord/sinks"
	"github.com/rotatord/rotatord/state"
)

// renders tells whether a sink of p renders sid for name.
func renders(p Policy, sid, name string) bool { return renderedBy(p, sid, name) != nil }

// renderedBy returns the sink of p that renders sid for name, or nil.
func renderedBy(p Policy, sid, name string) sinks.Sink {
	for _, s := range p.Sinks {
		if sinkID(s, name) == sid {
			return s
		}
	}
	return nil
}

// targetOwners tells which key names own each sink id (sinkID: kind and
// target), for one pass: the journal's side is read when first asked (a
// pass that writes no sink reads none); the claims are the engine's,
// shared by the passes under way (targetClaims). Targets and names are
// kept as 64-bit hashes, 24 bytes a target (its text's, its case-folded
// text's for a file sink whose directory folds case, and its name's),
// and a directory's classification as 9 bytes: a map of the ids' strings
// added 6 MB to a forced pass at 10,000 names, and the names for the
// errors 0.8 MB (they are read when a name is first refused). A hash that
// two targets share (one chance in 2^64 per pair) refuses a name wrongly,
// never lets one through.
type targetOwners struct {
	once     sync.Once
	claims   *targetClaims
	pass     uint64        // the pass's number (targetClaims.enter)
	recorded []targetOwner // from the journal, sorted by target
	// keyListed tells whether the pass's listing shows key id under name;
	// nil when there is no listing (a round of deletions): records of
	// policies no longer in force then give their targets whatever keys
	// are listed.
	keyListed func(name, id string) bool

	namesOnce sync.Once
	names     map[uint64]string // name hash to name, for the errors

	// foldsCase is the engine's detector of case-folding directories
	// (Engine.dirFoldsCase, for tests); nil asks the sink.
	foldsCase func(dir string) bool
	foldMu    sync.Mutex
	folds     map[uint64]bool   // directory hash: whether it folds case, this pass
	dirIDs    map[uint64]string // directory hash: its device and inode ("" unknown), this pass
	// foldStop is the deepest directory above every file sink's literal
	// directory (commonLiteralDir), set when the index is built; "" walks
	// up to "/".
	foldStop string
}

// nameOf returns the key name of name hash h, reading the journal the
// first time a pass refuses a name.
func (e *Engine) nameOf(t *targetOwners, h uint64) string {
	t.namesOnce.Do(func() {
		t.names = map[uint64]string{}
		eachRecord(e.store, "", func(r *state.Record) {
			t.names[t.hash(r.Name)] = strings.Clone(r.Name)
		})
	})
	return t.names[h]
}

// targetOwner is a target a record owns: target is its targetHash,
// exact the hash of its text, name the record's name's hash.
type targetOwner struct{ target, exact, name uint64 }

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
	name  uint64 // the claiming name's hash
	exact uint64 // the hash of the target's text (the key is its targetHash)
	pass  uint64 // the pass that made it
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
		w.targets = &targetOwners{claims: e.claims, pass: w.pass, keyListed: w.keyListed, foldsCase: e.dirFoldsCase}
	}
	return w.targets
}

func (t *targetOwners) hash(s string) uint64 { return maphash.String(t.claims.seed, s) }

// caseFolder is a sink whose targets are files (the file sink):
// FoldsCase tells whether the directory dir looks names up without regard
// to case, true when that cannot be told; LiteralDir is the directory its
// path template names in its leading literal text, the same for every
// name.
type caseFolder interface {
	FoldsCase(dir string) bool
	LiteralDir() string
}

// targetHash is the hash of sink s's id sid for comparing targets, and
// whether it was taken without regard to ASCII case (key names are
// ASCII): a file target is when its path folds case (pathFolds), where
// "ci-RUNNER.env" is ci-runner's file.
//
// A file target whose directory exists is compared by that directory's
// device and inode and the file's name (dirIdentity), not by the text of
// its path: a directory the operator aliased with a symlink
// ("/srv/web-prod" -> "web", for a template "/srv/{{.Name}}/env") gives two
// key names one file under two spellings, as case does on a folding file
// system (where the lower-case text still decides).
func (t *targetOwners) targetHash(s sinks.Sink, sid string) (uint64, bool) {
	f, ok := s.(caseFolder)
	if !ok {
		return t.hash(sid), false
	}
	path := strings.TrimPrefix(sid, s.Kind()+":")
	if t.pathFolds(f, filepath.Dir(path)) {
		// Compared as lower-case text: a directory that folds, or that
		// could not be told apart from one, is compared as it was.
		return t.hash(asciiLower(sid)), true
	}
	if id, ok := t.dirIdentity(filepath.Dir(path)); ok {
		return t.hash(s.Kind() + ":" + id + "/" + filepath.Base(path)), false
	}
	return t.hash(sid), false
}

// dirIdentity returns the device and inode of directory dir, symlinks
// followed, as it is when the pass first asks (each directory once per
// pass); false when it cannot be told (it does not exist yet: the text
// compares then, as the sink's probe refuses a missing directory anyway).
func (t *targetOwners) dirIdentity(dir string) (string, bool) {
	h := t.hash(dir)
	t.foldMu.Lock()
	defer t.foldMu.Unlock()
	if id, ok := t.dirIDs[h]; ok {
		return id, id != ""
	}
	id := statIdentity(dir)
	if t.dirIDs == nil {
		t.dirIDs = map[uint64]string{}
	}
	t.dirIDs[h] = id
	return id, id != ""
}

// pathFolds tells whether a name looked up in directory dir, or in a
// directory above it down to t.foldStop (a name may render a directory
// too: "/srv/{{.Name}}/env"), may be found without regard to case.
// Directories above foldStop are reached by the same literal names for
// every target of every file sink: a root file system that cannot be
// classified (ZFS, NFS) or an ancestor rotatord may not read does not make
// every target fold. The stop is the same for every sink, so that one
// target's text is hashed alike whichever sink renders it. Each directory
// is inspected once per pass (its own answer is kept): 10,000 names
// usually share a few directories.
func (t *targetOwners) pathFolds(f caseFolder, dir string) bool {
	stop := t.foldStop
	t.foldMu.Lock()
	defer t.foldMu.Unlock()
	for {
		h := t.hash(dir)
		v, ok := t.folds[h]
		if !ok {
			if t.foldsCase != nil {
				v = t.foldsCase(dir)
			} else {
				v = f.FoldsCase(dir)
			}
			if t.folds == nil {
				t.folds = map[uint64]bool{}
			}
			t.folds[h] = v
		}
		up := filepath.Dir(dir)
		if v || dir == stop || up == dir {
			return v
		}
		dir = up
	}
}

// asciiLower is strings.ToLower for ASCII letters only, without a copy
// when s has no upper-case letter.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; 'A' <= c && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

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

// recordedExactly tells whether a record of name hash me owns target hash
// h under the text of hash x.
func (t *targetOwners) recordedExactly(h, x, me uint64) bool {
	for i := t.find(h); i < len(t.recorded) && t.recorded[i].target == h; i++ {
		if o := t.recorded[i]; o.name == me && o.exact == x {
			return true
		}
	}
	return false
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

// claimTargets checks that every sink target of p for name is name's: no
// other name owns it by its records (buildTargetIndex), and no pass under
// way claimed it for another name. It then claims them. The error names
// the target and the other name. The same key name under
// another policy (a name that moved) is left to the sinks' markers, which
// name the policy.
func (e *Engine) claimTargets(t *targetOwners, p Policy, name string) error {
	return e.checkTargets(t, p, name, true)
}

// checkTargets is claimTargets, claiming the targets only when take is
// set: a dry run (plan) says why a pass would refuse the name, and takes
// nothing from the passes under way.
func (e *Engine) checkTargets(t *targetOwners, p Policy, name string, take bool) error {
	if p.Self != nil {
		// The own key's store is one literal target no other sink may
		// write (the sinks refuse rotatord's credential files and Vault
		// secrets), so no other name can own it: a name whose template
		// renders it claims it before its probe is refused, and that
		// claim (or a record from before the refusal) must not keep
		// rotatord's key from rotating.
		return nil
	}
	if err := oneIDOnTwoServers(p, name); err != nil {
		return err
	}
	t.once.Do(func() { e.buildTargetIndex(t) })
	me := t.hash(name)
	// The targets' hashes, before the claims' lock: a file target's may
	// inspect its directory.
	type target struct {
		i      int
		s      sinks.Sink
		sid    string
		ep     string // the sink's server, when it names one (sinks.Endpointer)
		h, x   uint64
		folded bool
	}
	var targets []target
	for i, s := range p.Sinks {
		if strings.HasPrefix(s.Target(name), "<") {
			continue // no target for the name: its probe says why
		}
		sid := sinkID(s, name)
		h, folded := t.targetHash(s, sid)
		x := t.hash(sid)
		// Two sinks of the policy that render one target for this name
		// (templates that differ, "{{.Name}}.cred" and the name's first
		// ten characters + ".cred": validate compares the templates, and
		// cannot tell): the second write would replace the first, in its
		// own format, for the first sink's consumer. Compared as the
		// other names' targets are (h): exactly, so that two sinks a
		// directory's case tells apart stay two sinks, and without
		// regard to case where the directory folds case
		// ("{{.Name}}.cred" and "{{.Name}}.CRED" on a CIFS mount are one
		// file); and on one server.
		ep := ""
		if server, ok := s.(sinks.Endpointer); ok {
			ep = server.Endpoint()
		}
		if j := slices.IndexFunc(targets, func(o target) bool { return o.ep == ep && (o.h == h || o.x == x) }); j >= 0 {
			return fmt.Errorf("sinks %s and %s: both render target %s for key name %q%s: the two sinks would overwrite each other; not rotating %q (change a template so that they differ for every name)",
				sinkLabel(targets[j].i, targets[j].s), sinkLabel(i, s), s.Target(name), name, caseNote(folded && targets[j].x != x), name)
		}
		targets = append(targets, target{i, s, sid, ep, h, x, folded})
	}
	c := t.claims
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, tg := range targets {
		i, s, h, x := tg.i, tg.s, tg.h, tg.x
		// Two names whose records each own a file target of their own
		// that differs from the other's only in case were both managed
		// before file targets were compared without regard to case, or
		// while the directory told case apart: they are left as they
		// were, and any other name is refused both targets.
		caseTwin := func(exact uint64) bool { return exact != x && t.recordedExactly(h, x, me) }
		for j := t.find(h); j < len(t.recorded) && t.recorded[j].target == h; j++ {
			if o := t.recorded[j]; o.name != me && !caseTwin(o.exact) {
				other := fmt.Sprintf("key name %q", e.nameOf(t, o.name))
				if other == `key name ""` {
					other = "another key name (its record removed since)"
				}
				return fmt.Errorf("sink %s: target %s is also the target of %s, which holds it: two key names render the same target%s; not writing it for %q",
					sinkLabel(i, s), s.Target(name), other, caseNote(tg.folded), name)
			}
		}
		if cl, ok := c.claimed[h]; ok && cl.name != me && !caseTwin(cl.exact) {
			return fmt.Errorf("sink %s: target %s is also the target of another key name, whose rotation under way claimed it first: two key names render the same target%s; not writing it for %q",
				sinkLabel(i, s), s.Target(name), caseNote(tg.folded), name)
		}
	}
	if !take {
		return nil
	}
	if c.claimed == nil {
		c.claimed = map[uint64]claim{}
	}
	for _, tg := range targets {
		h := tg.h
		// A target the journal gave the name when this pass read it needs
		// no claim: a pass that read it earlier has the claim that led to
		// that record, kept while it runs. (At 10,000 names, claims for
		// every target added 0.7 MB to a forced pass.)
		if _, ok := c.claimed[h]; ok || !t.recordedFor(h, me) {
			c.claimed[h] = claim{name: me, exact: tg.x, pass: t.pass}
		}
	}
	return nil
}

// oneIDOnTwoServers refuses two sinks of p that render one target for
// name on two servers (two Vault sinks of one mount and path on two
// addresses): the state journal knows a sink by its id (sinkID: kind and
// target) and cannot tell their deliveries apart. The second sink counted
// as holding what the first was given: added during a grace period, it
// was never caught up, and the old key was deleted while it held none (or
// kept while it held the old one). Cheap: only sinks that name a server
// are compared (sinks.Endpointer).
func oneIDOnTwoServers(p Policy, name string) error {
	for i, s := range p.Sinks {
		a, ok := s.(sinks.Endpointer)
		if !ok {
			continue
		}
		for j, o := range p.Sinks[:i] {
			b, ok := o.(sinks.Endpointer)
			if !ok || a.Endpoint() == b.Endpoint() || sinkID(s, name) != sinkID(o, name) {
				continue
			}
			return fmt.Errorf("sinks %s and %s: both render target %s for key name %q, on two servers (%s and %s): the state journal knows a sink by its target alone and cannot tell their deliveries apart; not writing %q (give the sinks different paths or mounts)",
				sinkLabel(j, o), sinkLabel(i, s), s.Target(name), name, b.Endpoint(), a.Endpoint(), name)
		}
	}
	return nil
}

// caseNote says, in a clash's error, that the target was compared
// without regard to case.
func caseNote(folded bool) string {
	if folded {
		return " (compared without regard to case: its directory is on a file system that folds case, or could not be told apart from one)"
	}
	return ""
}

// buildTargetIndex reads the journal for the targets each name owns (see
// the top of this file), as the policies in force and the pass's listing
// are now.
func (e *Engine) buildTargetIndex(t *targetOwners) {
	policies, _ := e.snapshotPolicies()
	t.foldStop = commonLiteralDir(policies)
	type nameRole struct{ name, role string }
	type oldDelivery struct {
		nameRole
		sid, keyID string
	}
	var old []oldDelivery
	add := func(s sinks.Sink, sid, name string) {
		h, _ := t.targetHash(s, sid)
		t.recorded = append(t.recorded, targetOwner{h, t.hash(sid), t.hash(name)})
	}
	eachRecord(e.store, "", func(r *state.Record) {
		i := slices.IndexFunc(policies, func(p Policy) bool { return p.Name == r.Policy })
		if i < 0 {
			for _, d := range r.Delivered {
				old = append(old, oldDelivery{nameRole{r.Name, r.RoleID}, d.Sink, d.KeyID})
			}
			return
		}
		p := policies[i]
		for _, d := range r.Delivered {
			if s := renderedBy(p, d.Sink, r.Name); s != nil {
				add(s, d.Sink, r.Name)
			}
		}
		if r.Rotation != nil {
			for sid := range r.Rotation.Sinks {
				if s := renderedBy(p, sid, r.Name); s != nil {
					add(s, sid, r.Name)
				}
			}
		}
	})
	defer func() { // after the old records' targets too
		slices.SortFunc(t.recorded, func(a, b targetOwner) int {
			switch {
			case a.target < b.target:
				return -1
			case a.target > b.target:
				return 1
			}
			return 0
		})
	}()
	if len(old) == 0 {
		return // the common case: no renamed or removed policy left records
	}
	// The old records' names that a record in force of the same role
	// succeeds (read again: only these few names are kept).
	oldNames := map[string]bool{}
	for _, d := range old {
		oldNames[d.name] = true
	}
	succeeded := map[nameRole]bool{}
	eachRecord(e.store, "", func(r *state.Record) {
		i := slices.IndexFunc(policies, func(p Policy) bool { return p.Name == r.Policy })
		if !oldNames[r.Name] || i < 0 {
			return
		}
		succeeded[nameRole{r.Name, r.RoleID}] = true
		// A successor written since the first read (another pass adopted
		// the name): its targets, taken over from the old record, count.
		for _, d := range r.Delivered {
			if s := renderedBy(policies[i], d.Sink, r.Name); s != nil {
				add(s, d.Sink, r.Name)
			}
		}
	})
	for _, d := range old {
		// With no listing (a round of deletions) an old record counts:
		// refused there, a catch-up waits for the next pass; let through,
		// it could write another name's target.
		if succeeded[d.nameRole] || d.keyID == "" || t.keyListed != nil && !t.keyListed(d.name, d.keyID) {
			continue
		}
		for _, p := range policies {
			if p.Self == nil && p.Match(d.name, d.role) {
				if s := renderedBy(p, d.sid, d.name); s != nil {
					add(s, d.sid, d.name)
					break
				}
			}
		}
	}
}

// commonLiteralDir is the deepest directory above (or at) the literal
// directory of every file sink of policies (caseFolder.LiteralDir), the
// own key's store left out: two
// targets that differ only in case name the same directories, exactly,
// down to it, wherever their sinks are. "/" when there is none.
func commonLiteralDir(policies []Policy) string {
	common := ""
	for _, p := range policies {
		if p.Self != nil {
			// The own key's store: no other sink writes it, and its
			// target is not compared (checkTargets).
			continue
		}
		for _, s := range p.Sinks {
			f, ok := s.(caseFolder)
			if !ok {
				continue
			}
			d := filepath.Clean(f.LiteralDir())
			if common == "" {
				common = d
				continue
			}
			for common != d && !strings.HasPrefix(d, strings.TrimSuffix(common, "/")+"/") {
				common = filepath.Dir(common)
			}
		}
	}
	if common == "" {
		return "/"
	}
	return common
}
