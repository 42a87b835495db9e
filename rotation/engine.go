// Package rotation owns the rotation of API keys: deciding which key name
// is due (decide.go, pure), and carrying a rotation through its durable
// steps (engine.go): record intent, create, record the new key, deliver to
// every sink and read back, confirm through the API, wait out the grace
// period, delete the old keys. Every step is made durable in the state
// store before the next starts, so a crash at any point is resumed or
// rolled back on the next pass without an outage and without a leak.
package rotation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/internal/keylock"
	"github.com/rotatord/rotatord/sinks"
	"github.com/rotatord/rotatord/state"
)

// Policy is a policy of the config file, bound to its sinks.
type Policy struct {
	Name        string
	Match       func(name, roleID string) bool
	MaxAge      time.Duration
	GracePeriod time.Duration
	AdoptRotate bool // adopt: rotate
	Sinks       []sinks.Sink
}

// Recorder receives the events the metrics layer counts. A nil Recorder is allowed.
type Recorder interface {
	RotationDone(policy string, ok bool, elapsed time.Duration)
	SinkWrite(policy, sink string, ok bool)
	OrphanDeleted(policy string)
}

// Options of one pass.
type Options struct {
	Force         bool // rotate every selected name whatever its age
	IgnoreBackoff bool // retry failed names now
	DryRun        bool // decide only; change nothing (for `plan`)
}

// Outcome is what a pass did (or, in a dry run, would do) for one name.
type Outcome struct {
	Policy   string
	Name     string
	KeyIDs   []string // live keys of the name
	Decision Decision
	Err      error
}

// Engine runs rotations. It is safe for concurrent use: a pass and the
// deletion ticker may run at once; each key name is handled by one at a time.
type Engine struct {
	store state.Journal
	log   *zap.Logger
	rec   Recorder
	now   func() time.Time

	mu          sync.Mutex
	api         apiclient.API
	ownKeyID    string
	concurrency int
	policies    []Policy
	// locks serialize the work on one key name, whatever policy owns it
	// now: a reload may move a name from one policy to another while a
	// pass of the old one still runs.
	locks keylock.Set
	// gens counts, per key name, the times a handler held the name's lock:
	// a pass compares it with the count before its listing to tell that
	// another pass acted on the name since.
	gens map[string]uint64
}

// Config of an engine.
type Config struct {
	API         apiclient.API
	Store       state.Journal
	Logger      *zap.Logger
	Recorder    Recorder
	Now         func() time.Time // default time.Now
	OwnKeyID    string           // the key rotatord authenticates with: never deleted
	Concurrency int              // names handled in parallel; default 4
}

// New returns an engine with no policies.
func New(cfg Config) *Engine {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	return &Engine{
		api: cfg.API, store: cfg.Store, log: cfg.Logger.Named("rotation"), rec: cfg.Recorder,
		now: cfg.Now, ownKeyID: cfg.OwnKeyID, concurrency: cfg.Concurrency,
		gens: map[string]uint64{},
	}
}

// SetPolicies replaces the policies, in config order. A key belongs to the
// policy that already manages its name while that policy still matches it,
// else to the first policy that matches: two policies never rotate the
// same key.
func (e *Engine) SetPolicies(p []Policy) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.policies = slices.Clone(p)
}

// Reconfigure swaps the API client, rotatord's own key and the concurrency
// after a reload. The engine, with its per-name locks, stays the same, so
// work under the old configuration and under the new never overlaps on a
// name.
func (e *Engine) Reconfigure(api apiclient.API, ownKeyID string, concurrency int) {
	if concurrency <= 0 {
		concurrency = 4
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.api, e.ownKeyID, e.concurrency = api, ownKeyID, concurrency
}

// client returns the API client in force.
func (e *Engine) client() apiclient.API {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.api
}

// own returns the id of the key rotatord authenticates with.
func (e *Engine) own() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.ownKeyID
}

func (e *Engine) snapshotPolicies() []Policy {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.policies)
}

// lock serializes work on one key name. The unlock also counts the work in
// the name's generation.
func (e *Engine) lock(name string) func() {
	unlock := e.locks.Lock(name)
	return func() {
		e.mu.Lock()
		e.gens[name]++
		e.mu.Unlock()
		unlock()
	}
}

// generations returns a copy of every name's generation.
func (e *Engine) generations() map[string]uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string]uint64, len(e.gens))
	for k, v := range e.gens {
		out[k] = v
	}
	return out
}

// generation returns the generation of one name.
func (e *Engine) generation(name string) uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.gens[name]
}

// Pass runs the named policies (all when names is empty): one listing of
// the keys, then every selected name in parallel. It returns one outcome
// per name. A failed listing fails the pass before anything changes.
func (e *Engine) Pass(ctx context.Context, names []string, opts Options) ([]Outcome, error) {
	policies := e.snapshotPolicies()
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
	keys, err := e.client().ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	if own := e.own(); own != "" && !slices.ContainsFunc(keys, func(k apiclient.Key) bool { return k.ID == own }) {
		// The key rotatord signs with is in the organization, so a listing
		// without it is partial: acting on it could forget or rotate names.
		return nil, fmt.Errorf("list keys: the listing lacks rotatord's own key %s: refusing to act on a partial listing", own)
	}

	type job struct {
		policy Policy
		name   string
		live   []apiclient.Key
	}
	var jobs []job
	for _, p := range run {
		byName := map[string][]apiclient.Key{}
		for _, k := range keys {
			if e.owner(policies, k) == p.Name {
				byName[k.Name] = append(byName[k.Name], k)
			}
		}
		// Names with a record but no live key: an interrupted rotation to
		// clean up, or a record to forget.
		for _, r := range e.store.List(p.Name) {
			if _, ok := byName[r.Name]; !ok {
				byName[r.Name] = nil
			}
		}
		for name, live := range byName {
			sort.Slice(live, func(i, j int) bool { return live[i].ID < live[j].ID })
			jobs = append(jobs, job{p, name, live})
		}
	}
	sort.Slice(jobs, func(i, j int) bool {
		if jobs[i].policy.Name != jobs[j].policy.Name {
			return jobs[i].policy.Name < jobs[j].policy.Name
		}
		return jobs[i].name < jobs[j].name
	})

	own := &passWork{done: map[string]uint64{}}
	out := make([]Outcome, len(jobs))
	sem := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	for i, j := range jobs {
		if ctx.Err() != nil {
			out[i] = Outcome{Policy: j.policy.Name, Name: j.name, Err: ctx.Err()}
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			out[i] = e.handle(ctx, j.policy, j.name, j.live, gens[j.name], own, opts)
		}()
	}
	wg.Wait()
	return out, nil
}

// passWork counts the handlers one pass has run per name.
type passWork struct {
	mu   sync.Mutex
	done map[string]uint64
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
// when none does.
func (e *Engine) owner(policies []Policy, k apiclient.Key) string {
	first := ""
	for _, p := range policies {
		if !p.Match(k.Name, k.RoleID) {
			continue
		}
		if e.store.Has(p.Name, k.Name) {
			return p.Name
		}
		if first == "" {
			first = p.Name
		}
	}
	return first
}

// DeleteDue deletes the old keys of every rotation whose grace period is
// over, without listing the keys: it is what fires between cron ticks. Due
// names are handled in parallel, as many as a pass handles.
func (e *Engine) DeleteDue(ctx context.Context) []Outcome {
	type due struct {
		p    Policy
		name string
	}
	var todo []due
	now := e.now()
	for _, p := range e.snapshotPolicies() {
		for _, r := range e.store.List(p.Name) {
			if r.Rotation == nil || r.Rotation.Phase != state.PhaseDelivered || now.Before(r.Rotation.DeleteAfter) {
				continue
			}
			todo = append(todo, due{p, r.Name})
		}
	}
	e.mu.Lock()
	sem := make(chan struct{}, max(1, e.concurrency))
	e.mu.Unlock()
	out := make([]Outcome, len(todo))
	var wg sync.WaitGroup
	for i, d := range todo {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			out[i] = e.deleteDue(ctx, d.p, d.name)
		}()
	}
	wg.Wait()
	return out
}

func (e *Engine) deleteDue(ctx context.Context, p Policy, name string) Outcome {
	unlock := e.lock(name)
	defer unlock()
	o := Outcome{Policy: p.Name, Name: name, Decision: Decision{Action: ActionDelete, Reason: ReasonGraceOver}}
	rec, ok := e.store.Get(p.Name, name)
	if !ok || rec.Rotation == nil || rec.Rotation.Phase != state.PhaseDelivered || e.now().Before(rec.Rotation.DeleteAfter) {
		o.Decision = Decision{Action: ActionNone}
		return o // a concurrent pass got there first
	}
	o.Err = e.deleteOld(ctx, p, &rec, false)
	return o
}

// handle decides and acts for one key name. gen is the name's generation
// before live was listed.
func (e *Engine) handle(ctx context.Context, p Policy, name string, live []apiclient.Key, gen uint64, pass *passWork, opts Options) Outcome {
	unlock := e.lock(name)
	defer unlock()
	// Counted before the unlock, so the pass's next job on this name (for
	// another policy: two roles under one name) expects this handler's bump.
	defer pass.add(name)
	log := e.log.With(zap.String("policy", p.Name), zap.String("name", name))
	o := Outcome{Policy: p.Name, Name: name}
	for _, k := range live {
		o.KeyIDs = append(o.KeyIDs, k.ID)
	}
	if !opts.DryRun && e.generation(name) != gen+pass.get(name) {
		// Another pass, or the deleter, acted on this name since this pass
		// listed the keys: live may show keys that are gone and miss keys
		// just made. Acting on it could rotate again and leave the key just
		// delivered alive with no sink holding it. That handler saw the
		// name as it is; the next pass decides.
		o.Decision = Decision{Action: ActionNone, Reason: ReasonConcurrent}
		return o
	}

	now := e.now()
	stored, known := e.store.Get(p.Name, name)
	rec, changed := Reconcile(now, stored, known, p.Name, name, live, p.AdoptRotate)
	if !known && len(live) > 1 {
		// No record of this name but several keys: the state was lost, or
		// someone made keys by hand. Trust the sinks, or no one.
		e.adoptFromSinks(ctx, p, &rec, live, now)
	}

	d := Decide(Input{
		Now: now, MaxAge: p.MaxAge, Force: opts.Force, IgnoreBackoff: opts.IgnoreBackoff,
		OwnKeyID: e.own(), Live: live, Record: rec,
	})
	o.Decision = d
	if opts.DryRun {
		return o
	}
	if d.Action == ActionSkip {
		log.Warn("skipping key name", zap.String("reason", string(d.Reason)))
		return o
	}
	if len(live) == 0 && rec.Rotation == nil {
		// Every key of the name is gone: nothing left to manage.
		if known {
			if err := e.store.Delete(p.Name, name); err != nil {
				o.Err = err
			}
			log.Info("forgetting key name: no key left")
		}
		return o
	}
	if changed {
		if err := e.store.Put(rec); err != nil {
			o.Err = err
			return o
		}
	}

	switch d.Action {
	case ActionRotate:
		log.Info("rotation due", zap.String("reason", string(d.Reason)))
		o.Err = e.rotate(ctx, p, &rec, live)
	case ActionRecover:
		log.Warn("recovering interrupted rotation", zap.String("phase", string(rec.Rotation.Phase)))
		o.Err = e.recover(ctx, p, &rec, live)
	case ActionDelete:
		o.Err = e.deleteOld(ctx, p, &rec, false)
	}
	return o
}

// adoptFromSinks handles several live keys of a name rotatord has no record
// of. If every sink holds the same live key, that key is current and the
// others are old keys whose grace period starts now. Otherwise nothing is
// known, and no key is scheduled for deletion.
func (e *Engine) adoptFromSinks(ctx context.Context, p Policy, rec *state.Record, live []apiclient.Key, now time.Time) {
	held := ""
	for _, s := range p.Sinks {
		h, err := s.Read(ctx, rec.Name)
		if err != nil || h.KeyID == "" || (held != "" && h.KeyID != held) {
			return
		}
		held = h.KeyID
	}
	var old []string
	found := false
	for _, k := range live {
		if k.ID == held {
			found = true
		} else {
			old = append(old, k.ID)
		}
	}
	if !found {
		return
	}
	rec.CurrentKeyID = held
	rec.CurrentSince = now
	if p.AdoptRotate {
		rec.CurrentSince = time.Time{}
	}
	rec.Rotation = &state.Rotation{
		Phase: state.PhaseDelivered, StartedAt: now, OldKeyIDs: old, NewKeyID: held,
		DeliveredAt: now, DeleteAfter: now.Add(p.GracePeriod),
	}
	e.log.Warn("adopted key held by every sink; other keys of the name will be deleted after the grace period",
		zap.String("policy", p.Name), zap.String("name", rec.Name), zap.String("key_id", held), zap.Strings("old_key_ids", old))
}

// rotate carries a new rotation from intent to delivered (and on to
// deletion when the grace period is zero).
func (e *Engine) rotate(ctx context.Context, p Policy, rec *state.Record, live []apiclient.Key) error {
	start := e.now()
	log := e.log.With(zap.String("policy", p.Name), zap.String("name", rec.Name))

	// Probe first: a sink that cannot be written costs no key.
	for i, s := range p.Sinks {
		if err := s.Probe(ctx, rec.Name); err != nil {
			return e.fail(p, rec, start, fmt.Errorf("sink %s: %w", sinkLabel(i, s), err))
		}
	}
	if rec.RoleID == "" {
		return e.fail(p, rec, start, errors.New("no role id known for the key name"))
	}

	// Step 1: intent, with the keys that exist now.
	old := make([]string, 0, len(live))
	for _, k := range live {
		old = append(old, k.ID)
	}
	rec.Rotation = &state.Rotation{Phase: state.PhaseIntent, StartedAt: start, OldKeyIDs: old}
	if err := e.store.Put(*rec); err != nil {
		rec.Rotation = nil
		return e.fail(p, rec, start, err)
	}
	log.Info("rotation started", zap.String("step", "intent"), zap.Strings("old_key_ids", old))

	// Step 2: create the replacement with the same name and role.
	created, err := e.client().CreateKey(ctx, rec.Name, rec.RoleID)
	if err != nil {
		if errors.Is(err, apiclient.ErrAmbiguousCreate) {
			log.Warn("create outcome unknown: looking for a key created without its secret", zap.Error(err))
			if cerr := e.deleteOrphans(ctx, p, rec); cerr != nil {
				// The intent stays recorded: the next pass cleans up.
				return e.fail(p, rec, start, fmt.Errorf("create: %w; cleanup: %v", err, cerr))
			}
		}
		rec.Rotation = nil
		return e.fail(p, rec, start, fmt.Errorf("create: %w", err))
	}
	createdAt := e.now()
	log = log.With(zap.String("key_id", created.ID))

	// Step 3: record the new key before anything else.
	rec.Rotation.Phase = state.PhaseCreated
	rec.Rotation.NewKeyID = created.ID
	rec.Rotation.NewCreatedAt = createdAt
	if err := e.store.Put(*rec); err != nil {
		// Not recorded: nobody but us will ever know this key. Drop it now;
		// if that fails too, the recorded intent leads to it next pass.
		if derr := e.client().DeleteKey(ctx, created.ID); derr == nil {
			e.orphanDeleted(p)
			rec.Rotation = nil
		}
		return e.fail(p, rec, start, err)
	}
	log.Info("replacement created", zap.String("step", "created"))

	cred := sinks.Credential{Name: rec.Name, KeyID: created.ID, RoleID: created.RoleID, Secret: created.Secret, CreatedAt: createdAt}
	if cred.RoleID == "" {
		cred.RoleID = rec.RoleID
	}
	return e.deliverAndConfirm(ctx, p, rec, cred, start)
}

// deliverAndConfirm runs steps 4 and 5 and records the delivered phase.
func (e *Engine) deliverAndConfirm(ctx context.Context, p Policy, rec *state.Record, cred sinks.Credential, start time.Time) error {
	log := e.log.With(zap.String("policy", p.Name), zap.String("name", rec.Name), zap.String("key_id", cred.KeyID))

	// Step 4: every sink, written and read back.
	var failed []error
	mayHolds := 0 // sinks that hold, or may hold, the new key
	for i, s := range p.Sinks {
		label := sinkLabel(i, s)
		err := s.Write(ctx, cred)
		if err == nil {
			err = s.Verify(ctx, cred)
		}
		e.sinkWrite(p, label, err == nil)
		if err != nil {
			log.Error("sink write failed", zap.String("sink", label), zap.String("target", s.Target(rec.Name)), zap.Error(err))
			failed = append(failed, fmt.Errorf("sink %s: %w", label, err))
			if mayHold(ctx, s, cred) {
				mayHolds++
			}
			continue
		}
		mayHolds++
		log.Info("delivered", zap.String("step", "delivered"), zap.String("sink", label), zap.String("target", s.Target(rec.Name)))
	}
	if len(failed) > 0 {
		err := errors.Join(failed...)
		if mayHolds == 0 {
			// No consumer can have the new key: roll it back.
			if derr := e.client().DeleteKey(ctx, cred.KeyID); derr != nil {
				return e.fail(p, rec, start, fmt.Errorf("%w; rollback: %v", err, derr))
			}
			e.orphanDeleted(p)
			log.Warn("rolled back: new key deleted, old key kept")
			rec.Rotation = nil
			return e.fail(p, rec, start, err)
		}
		// Some sinks hold the new key: deleting it would cut them off. Keep
		// it and finish the delivery on a later pass.
		return e.fail(p, rec, start, err)
	}

	// Step 5: the API knows the new key.
	k, err := e.client().GetKey(ctx, cred.KeyID)
	if err != nil {
		return e.fail(p, rec, start, fmt.Errorf("confirm new key: %w", err))
	}
	if k.Name != rec.Name {
		return e.fail(p, rec, start, fmt.Errorf("confirm new key: API names it %q", k.Name))
	}

	now := e.now()
	rec.Rotation.Phase = state.PhaseDelivered
	rec.Rotation.DeliveredAt = now
	rec.Rotation.DeleteAfter = now.Add(p.GracePeriod)
	rec.CurrentKeyID = cred.KeyID
	rec.CurrentSince = rec.Rotation.NewCreatedAt
	rec.CreatedByUs = true
	rec.Failures, rec.LastError, rec.LastFailure = 0, "", time.Time{}
	// The new key is known from its creation: noted here, the next listing
	// that shows it changes nothing, and that pass rewrites no record.
	if _, ok := rec.FirstSeen[cred.KeyID]; !ok {
		if rec.FirstSeen == nil {
			rec.FirstSeen = map[string]time.Time{}
		}
		seen := rec.Rotation.NewCreatedAt
		if seen.IsZero() {
			seen = now
		}
		rec.FirstSeen[cred.KeyID] = seen
	}
	if err := e.store.Put(*rec); err != nil {
		return e.fail(p, rec, start, err)
	}
	log.Info("rotation delivered", zap.String("step", "confirmed"), zap.Time("delete_old_after", rec.Rotation.DeleteAfter))
	e.rotationDone(p, true, now.Sub(start))
	if p.GracePeriod <= 0 {
		return e.deleteOld(ctx, p, rec, true)
	}
	return nil
}

// recover resumes or rolls back a rotation found in the intent or created phase.
func (e *Engine) recover(ctx context.Context, p Policy, rec *state.Record, live []apiclient.Key) error {
	start := e.now()
	rot := rec.Rotation
	log := e.log.With(zap.String("policy", p.Name), zap.String("name", rec.Name), zap.String("phase", string(rot.Phase)))

	if rot.Phase == state.PhaseCreated && rot.NewKeyID != "" {
		// Ask the sinks first, whatever the listing says: a sink may hold
		// the new key, whose secret lives only there.
		var cred *sinks.Credential
		anyHolds, readErrs := false, 0
		for _, s := range p.Sinks {
			h, err := s.Read(ctx, rec.Name)
			switch {
			case errors.Is(err, sinks.ErrNotHeld):
			case errors.Is(err, sinks.ErrUnreadable):
				anyHolds = true // it may hold the new key: never delete it
			case err != nil:
				readErrs++
			case h.KeyID == rot.NewKeyID:
				anyHolds = true
				if !h.Secret.IsZero() && cred == nil {
					cred = &sinks.Credential{Name: rec.Name, KeyID: rot.NewKeyID, RoleID: rec.RoleID, Secret: h.Secret, CreatedAt: rot.NewCreatedAt}
				}
			}
		}
		if readErrs > 0 {
			return e.fail(p, rec, start, errors.New("recover: cannot read every sink; keeping the new key until they answer"))
		}
		_, err := e.client().GetKey(ctx, rot.NewKeyID)
		switch {
		case errors.Is(err, apiclient.ErrNotFound):
			// Someone deleted the new key. If a sink holds it, that sink
			// serves a dead key: rotate again at once.
			log.Warn("the new key of the interrupted rotation no longer exists", zap.String("key_id", rot.NewKeyID))
			rec.Rotation = nil
			if anyHolds {
				rec.CurrentKeyID = ""
			}
			if err := e.store.Put(*rec); err != nil {
				return e.fail(p, rec, start, err)
			}
			return nil
		case err != nil:
			return e.fail(p, rec, start, fmt.Errorf("recover: %w", err))
		case cred != nil:
			log.Info("resuming delivery from a sink that holds the new key", zap.String("key_id", rot.NewKeyID))
			return e.deliverAndConfirm(ctx, p, rec, *cred, start)
		case anyHolds:
			// A sink holds (or may hold) the key but cannot give its secret
			// back: supersede it with a fresh rotation that retires both the
			// old and the new key once its replacement is delivered.
			log.Warn("new key held by a sink that cannot be read back; superseding it", zap.String("key_id", rot.NewKeyID))
			rec.Rotation = nil
			rec.CurrentKeyID = ""
			if err := e.store.Put(*rec); err != nil {
				return e.fail(p, rec, start, err)
			}
			return e.rotate(ctx, p, rec, live)
		}
		// No sink holds it: nobody can use it. Roll it back.
	}

	if err := e.deleteOrphans(ctx, p, rec); err != nil {
		return e.fail(p, rec, start, fmt.Errorf("recover: %w", err))
	}
	rec.Rotation = nil
	if err := e.store.Put(*rec); err != nil {
		return e.fail(p, rec, start, err)
	}
	log.Info("interrupted rotation rolled back")
	return nil
}

// deleteOrphans lists the keys and deletes the keys this rotation created
// whose secret reached no sink. A key qualifies only if everything says it
// is ours and new: the name and the role of the create, this policy owns
// it, the intent did not list it, it was not seen before the rotation
// started, and no sink reports holding it.
func (e *Engine) deleteOrphans(ctx context.Context, p Policy, rec *state.Record) error {
	api := e.client()
	keys, err := api.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("list keys: %w", err)
	}
	rot := rec.Rotation
	policies := e.snapshotPolicies()
	for _, k := range keys {
		if k.Name != rec.Name || k.ID == e.own() || k.ID == rec.CurrentKeyID || slices.Contains(rot.OldKeyIDs, k.ID) {
			continue
		}
		if k.RoleID != rec.RoleID || e.owner(policies, k) != p.Name {
			continue // another role or another policy's key: not made by this rotation
		}
		if seen, ok := rec.FirstSeen[k.ID]; ok && seen.Before(rot.StartedAt) {
			continue
		}
		if heldBy(ctx, p.Sinks, rec.Name, k.ID) {
			e.log.Warn("not deleting an unknown key that a sink holds",
				zap.String("policy", p.Name), zap.String("name", rec.Name), zap.String("key_id", k.ID))
			continue
		}
		if err := api.DeleteKey(ctx, k.ID); err != nil {
			return fmt.Errorf("delete orphan %s: %w", k.ID, err)
		}
		delete(rec.FirstSeen, k.ID)
		e.orphanDeleted(p)
		e.log.Warn("deleted key created without a delivered secret",
			zap.String("policy", p.Name), zap.String("name", rec.Name), zap.String("key_id", k.ID))
	}
	return nil
}

// heldBy reports whether a sink says it holds key id for name.
func heldBy(ctx context.Context, ss []sinks.Sink, name, id string) bool {
	for _, s := range ss {
		if h, err := s.Read(ctx, name); err == nil && h.KeyID == id {
			return true
		}
	}
	return false
}

// deleteOld runs step 6: the old keys go, the new one stays. confirmed says
// the new key was checked through the API a moment ago; otherwise it is
// checked again, since the grace period gave time for it to vanish.
func (e *Engine) deleteOld(ctx context.Context, p Policy, rec *state.Record, confirmed bool) error {
	rot := rec.Rotation
	log := e.log.With(zap.String("policy", p.Name), zap.String("name", rec.Name))
	api := e.client()
	failDelete := func(err error) error {
		rec.Failures++
		rec.LastFailure = e.now()
		rec.LastError = err.Error()
		_ = e.store.Put(*rec)
		log.Error("deleting old keys failed", zap.Error(err))
		return err
	}
	if !confirmed {
		_, err := api.GetKey(ctx, rot.NewKeyID)
		if errors.Is(err, apiclient.ErrNotFound) {
			// Deleting the old keys now would leave the name with none.
			// Keep them and rotate again at once.
			log.Warn("the new key vanished during the grace period: keeping the old keys and rotating again",
				zap.String("key_id", rot.NewKeyID))
			rec.Rotation = nil
			rec.CurrentKeyID = ""
			return e.store.Put(*rec)
		}
		if err != nil {
			return failDelete(fmt.Errorf("confirm new key before deleting old keys: %w", err))
		}
	}
	for _, id := range rot.OldKeyIDs {
		if id == rot.NewKeyID || id == rec.CurrentKeyID {
			continue
		}
		if id == e.own() {
			log.Warn("not deleting the key rotatord authenticates with", zap.String("key_id", id))
			continue
		}
		if heldBy(ctx, p.Sinks, rec.Name, id) {
			return failDelete(fmt.Errorf("old key %s is still held by a sink: not deleting it", id))
		}
		if err := api.DeleteKey(ctx, id); err != nil {
			return failDelete(fmt.Errorf("delete old key %s: %w", id, err))
		}
		delete(rec.FirstSeen, id)
		log.Info("old key deleted", zap.String("step", "deleted"), zap.String("key_id", id))
	}
	rec.Rotation = nil
	rec.Failures, rec.LastError, rec.LastFailure = 0, "", time.Time{}
	return e.store.Put(*rec)
}

// mayHold reports whether a sink whose write of c failed may still hold
// it: only a definite "holds nothing" or "holds another credential" says no.
// A sink that cannot say which key it holds (a free-form template) is asked
// to compare its content with c instead.
func mayHold(ctx context.Context, s sinks.Sink, c sinks.Credential) bool {
	h, err := s.Read(ctx, c.Name)
	switch {
	case errors.Is(err, sinks.ErrNotHeld):
		return false
	case err == nil:
		return h.KeyID == c.KeyID
	case !errors.Is(err, sinks.ErrUnreadable):
		return true
	}
	err = s.Verify(ctx, c)
	return err == nil || !(errors.Is(err, sinks.ErrNotHeld) || errors.Is(err, sinks.ErrMismatch))
}

// fail records a failed step durably and reports it.
func (e *Engine) fail(p Policy, rec *state.Record, start time.Time, err error) error {
	now := e.now()
	rec.Failures++
	rec.LastFailure = now
	rec.LastError = err.Error()
	if perr := e.store.Put(*rec); perr != nil {
		err = fmt.Errorf("%w; state: %v", err, perr)
	}
	e.log.Error("rotation failed", zap.String("policy", p.Name), zap.String("name", rec.Name),
		zap.Int("failures", rec.Failures), zap.Error(err))
	e.rotationDone(p, false, now.Sub(start))
	return err
}

func (e *Engine) rotationDone(p Policy, ok bool, d time.Duration) {
	if e.rec != nil {
		e.rec.RotationDone(p.Name, ok, d)
	}
}

func (e *Engine) sinkWrite(p Policy, sink string, ok bool) {
	if e.rec != nil {
		e.rec.SinkWrite(p.Name, sink, ok)
	}
}

func (e *Engine) orphanDeleted(p Policy) {
	if e.rec != nil {
		e.rec.OrphanDeleted(p.Name)
	}
}

// SinkLabel names the i-th sink of a policy in metric labels: bounded by the config.
func SinkLabel(i int, kind string) string { return fmt.Sprintf("%s#%d", kind, i) }

func sinkLabel(i int, s sinks.Sink) string { return SinkLabel(i, s.Kind()) }
