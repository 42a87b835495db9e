// Package rotation owns the rotation of API keys: deciding which key name
// is due (decide.go, pure), and carrying a rotation through its durable
// steps: record intent, create, record the new key, deliver to every sink
// and read back, confirm through the API, wait out the grace period,
// delete the old keys. Every step of a rotation is made durable in the
// journal before the next starts, so a crash at any point is resumed or
// rolled back on the next pass without an outage and without a leak. (The
// repairs outside a rotation, adopting a key the sinks hold and giving the
// current key to a sink added since, write sinks first and the journal
// after: a crash between them only repeats the repair.)
//
// The protocol reads as its steps, one file each:
//   - pass.go: one listing, then every selected name (who owns a key);
//   - rotate.go: probe, intent, create, created, deliver, confirm;
//   - recover.go: an interrupted rotation, resumed or rolled back;
//   - orphans.go: keys a rotation created whose secret nobody holds;
//   - delete.go: old keys deleted once the grace period is over;
//   - evidence.go: what a sink holds, proven or not.
//
// Three invariants hold whatever fails: a name never has more than two
// live keys; no key a sink holds, or may hold, is deleted; every key
// rotatord created is either held by a sink or recorded until cleaned up.
package rotation

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/internal/keylock"
	"github.com/rotatord/rotatord/internal/window"
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
	// Windows are when replacements may be created and old keys deleted;
	// empty: always.
	Windows window.Set
	// Jitter spreads the names' due times: each is offset by a fraction
	// of it taken from a hash of the name (JitterOffset).
	Jitter time.Duration
	// Hooks run after delivery, before deletion and on failure (hooks.go).
	Hooks []Hook
	// SinkCheck, when set, is how often a pass reads every sink of a name
	// between its rotations (sinkcheck.go); 0: never.
	SinkCheck time.Duration
	// Self, when set, makes this the policy that rotates the key rotatord
	// signs with (self.go): its Match is the engine's, and its one sink is
	// where rotatord reads its credential from.
	Self SelfCredential
	// Fingerprint, when set, identifies what the policy file says of the
	// policy (a digest, never the content): a reload that leaves it as it
	// was does not end a deletion whose consumer check it outlived
	// (outsideInstall). Empty: every reload ends it.
	Fingerprint string
}

// Recorder receives the events the metrics layer counts. A nil Recorder is allowed.
type Recorder interface {
	RotationDone(policy string, ok bool, elapsed time.Duration)
	SinkWrite(policy, sink string, ok bool)
	OrphanDeleted(policy string)
	// DeletionRefused counts keys a record listed for deletion that the
	// API does not show as the policy's (an edited record, a changed policy).
	DeletionRefused(policy string)
	// NameSkipped counts a pass's matching key names rotatord will not
	// manage (see CheckName).
	NameSkipped(policy string, reason SkipReason)
	// HookRun counts a hook's run for one key name (rec.Name).
	HookRun(policy, name, hook, event string, ok bool, elapsed time.Duration)
	// SinkChecked counts a sink check's read of one sink (sinkcheck.go):
	// found is SinkHeld, SinkLost or SinkUnknown.
	SinkChecked(policy, sink, found string)
}

// Options of one pass.
type Options struct {
	Force         bool // rotate every selected name whatever its age
	IgnoreBackoff bool // retry failed names now
	DryRun        bool // decide only; change nothing (for `plan`)
	// IgnoreWindows rotates and deletes outside the policies' windows
	// (`once --force --ignore-windows`).
	IgnoreWindows bool
	// OnOutcome, when set, hears each name's outcome as its handler
	// returns, with the number of names in the pass (progress for `once`).
	// Handlers run in parallel: it must be safe for concurrent use.
	OnOutcome func(o Outcome, total int)
	// Skip, when set, leaves out of DeleteDue the names it answers true
	// for: `once` does not try again a deletion its own pass just tried.
	Skip func(policy, name string) bool
	// OnListed, when set, hears that the pass listed the keys: the API
	// answers, though the pass may go on for long (a consumer check).
	OnListed func()
}

// Outcome is what a pass did (or, in a dry run, would do) for one name.
type Outcome struct {
	Policy   string
	Name     string
	KeyIDs   []string // live keys of the name
	Decision Decision
	Err      error
	// LastError is the record's last failure, in a dry run (plan shows
	// it: a dry run has no Err of its own).
	LastError string
}

// Engine runs rotations. It is safe for concurrent use: a pass and the
// deletion ticker may run at once; each key name is handled by one at a time.
type Engine struct {
	store state.Journal
	fence func() error
	// stopping is Config.Stopping.
	stopping func() bool
	// onDeletionScheduled is Config.OnDeletionScheduled.
	onDeletionScheduled func(at time.Time)
	// otherAccounts is Config.OtherAccounts.
	otherAccounts func() map[string]string
	log           *zap.Logger
	rec           Recorder
	now           func() time.Time
	sleep         func(ctx context.Context, d time.Duration) error

	settle         time.Duration
	minDeleteDelay time.Duration
	readOnly       bool
	// dirFoldsCase, set by tests, tells whether a file sink's directory
	// folds case in place of the sink (caseFolder).
	dirFoldsCase func(dir string) bool

	// install is held for reading by every handler of a name, from the
	// check that the policies it was given are still in force to its last
	// step, and for writing while the policies are swapped: a reload waits
	// for the handlers in flight, and no handler acts on policies a reload
	// replaced (no rotation of a removed policy starts, no deletion checks
	// a stale list of sinks).
	install   sync.RWMutex
	policyGen uint64

	// reloadPending counts reloads waiting for or holding install.
	reloadPending atomic.Int32
	// reloadSignal closes when a reload starts to wait for the handlers:
	// their API requests stop waiting out a Retry-After or a backoff
	// (apiclient.WithInterrupt), unsent. A new one is made when the
	// reload is over. Guarded by reloadSignalMu.
	reloadSignal   chan struct{}
	reloadSignalMu sync.Mutex
	// ownUnlisted: the API does not know rotatord's own credential as one
	// of its keys (warned once).
	ownUnlisted atomic.Bool
	// ownShown: the own key ids the API has shown this process (listed, or
	// found by a GET): a later listing without one is partial, whatever a
	// GET says then. Guarded by mu.
	ownShown map[string]bool
	// hooksRunning counts on_failure hooks running in the background.
	hooksRunning runningCount
	// hooksCtx is the on_failure hooks' context: StopHooks cancels it
	// (stopHooks) for those a stop leaves.
	hooksCtx  context.Context
	stopHooks context.CancelFunc
	// failureHooks tracks the on_failure runs of this process, by policy
	// and name: the record says a failure's hooks are owed, this says
	// whether they are running or ran (see settleFailureHooks).
	failureHooksMu sync.Mutex
	failureHooks   map[[2]string]failureRun

	// selfRun is held for writing while the own key rotates and for
	// reading by every other handler: the client's credential never
	// switches in the middle of another rotation. A handler takes it
	// before install (handle): it keeps it while it lets install go
	// around its hooks (afterDeliveryInPass, outsideInstall). Another
	// policy's handler waits for it without its name's lock
	// (lockSharingSelfRun).
	selfRun sync.RWMutex

	mu          sync.Mutex
	api         apiclient.API
	ownKeyID    string
	selfName    string // name and role of the own key, from the last listing
	selfRole    string
	concurrency int
	// organizationChecked: a listing signed with organizationFor (the
	// own key id) shared a key or role with the journal
	// (sameOrganization).
	organizationChecked bool
	organizationFor     string
	// organizationRefused: the deleter's last checks of the credential
	// organizationRefusedFor failed (organizationRefusals in a row, the
	// last at organizationRefusedAt); it backs off before the next. An
	// install (a reload), or a pass that finds it, starts again at once.
	organizationRefusedFor string
	organizationRefusedAt  time.Time
	organizationRefusals   int
	policies               []Policy
	// locks serialize the work on one key name, whatever policy owns it
	// now: a reload may move a name from one policy to another while a
	// pass of the old one still runs.
	locks keylock.Set
	// gens counts, per key name, the times a handler held the name's lock:
	// a pass compares it with the count before its listing to tell that
	// another pass acted on the name since.
	gens map[string]uint64
	// quiet is the last pass's quiet set of each list of policies run, for
	// the next pass of the same list (quietFor); quietBusy while a pass
	// uses it.
	quiet     map[string]*quietSet
	quietBusy map[string]bool
	// warnedNames remembers the unsafe names already logged, so a pass
	// warns once per process, not once per pass.
	warnedNames map[recordKey]bool
	// warnedTwoKeys remembers the names this process reported as left
	// with two live keys it will not rotate (firstTwoKeysWarning).
	warnedTwoKeys map[recordKey]bool
	// warnedUntrusted remembers the sinks (name: key name, sink id and
	// current key id) this process reported as no source of the current
	// key, changed since its delivery (trustedCopy).
	warnedUntrusted map[recordKey]bool
	// skipped: the key names each policy's last pass left alone.
	skipped map[string][]SkippedName
	// confirmed notes, per policy and name, when this process confirmed
	// the new key of a delivered rotation (monotonic clock): old keys go
	// no sooner than minDeleteDelay later, whatever the wall clock says.
	confirmed map[recordKey]time.Time
	// keyFacts: the name and role a GET gave for a key that listings show
	// without them (under mu). A key is never updated (the API has no
	// update): asked once, not at every pass of every orphan search. Kept
	// for the keys the last search's listing showed; cleared when the API
	// client changes.
	keyFacts map[string]apiclient.Key
	// deleting: the names a round of DeleteDue handles now (under mu).
	deleting map[recordKey]bool
	// searched notes, per policy and name, when this process first listed
	// the keys in the orphan search of the intent started at the time it
	// holds (firstSearched).
	searched map[recordKey][2]time.Time
	// claims are the sink targets the passes under way have claimed for
	// a key name (targets.go).
	claims *targetClaims
	// sinkChecks is what this process knows of each name's sink checks
	// (sinkcheck.go); sinkCheckGen counts the checks made, so that a
	// quiet set worked out before one is not used after it.
	sinkChecksMu sync.Mutex
	sinkChecks   map[recordKey]sinkCheck
	sinkCheckGen atomic.Uint64
}

type recordKey struct{ policy, name string }

// Config of an engine.
type Config struct {
	API      apiclient.API
	Store    state.Journal
	Logger   *zap.Logger
	Recorder Recorder
	Now      func() time.Time // default time.Now
	// Sleep waits d or until ctx ends (default: a timer). The engine
	// sleeps only while it waits for the API to show a key it created.
	Sleep    func(ctx context.Context, d time.Duration) error
	OwnKeyID string // the key rotatord authenticates with: never deleted
	// Concurrency is the number of names handled in parallel; default 4.
	Concurrency int
	// CreateSettle is how long after a create whose outcome is unknown a
	// listing must have been taken before an empty one proves no key was
	// made: longer than the request timeout, so a create the API applies
	// late is still found. Default 2 minutes.
	CreateSettle time.Duration
	// MinDeleteDelay is the least time between this process confirming a
	// new key and deleting the keys it replaces, so a wall clock that
	// jumped forward across a restart cannot cut a grace period to
	// nothing. Default min(grace period, 10s); negative means none.
	MinDeleteDelay time.Duration
	// ReadOnly engines only plan (`rotatord plan`): SetPolicies installs
	// policies even when they would strand a rotation, since nothing acts.
	ReadOnly bool
	// OnDeletionScheduled, when set, hears that a deletion was scheduled
	// (a rotation delivered, a new key confirmed) and when it falls due:
	// the time NextDeletion would give it. The caller's deletion timer
	// wakes then if that is before it would anyway, without asking
	// NextDeletion again (a pass delivers a rotation every few
	// milliseconds, and NextDeletion reads every record). It must not
	// block.
	OnDeletionScheduled func(at time.Time)
	// Fence, when set, is asked before every sink write: a replica that
	// lost its Lease must not deliver (the API client and the journal ask
	// it too, before every request and write).
	Fence func() error
	// OtherAccounts, when set, gives the ids of the keys the daemon's
	// other accounts sign with, each with its account's name. A listing
	// that shows one of them is of another account's organization (a
	// credential file copied to another account's): the pass refuses to
	// act, or two journals would rotate one organization's keys, and one
	// account's own-key rotation would delete the key the other signs with.
	OtherAccounts func() map[string]string
	// Stopping, when set, tells that the process is stopping (SIGTERM):
	// a pass then starts no new rotation (a due name waits for the next
	// start), while the rotations already in flight are finished.
	Stopping func() bool
}

// New returns an engine with no policies.
func New(cfg Config) *Engine {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleep
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	if cfg.CreateSettle <= 0 {
		cfg.CreateSettle = 2 * time.Minute
	}
	if cfg.MinDeleteDelay == 0 {
		cfg.MinDeleteDelay = 10 * time.Second
	}
	hooksCtx, stopHooks := context.WithCancel(context.Background())
	return &Engine{
		hooksCtx: hooksCtx, stopHooks: stopHooks,
		api: cfg.API, store: cfg.Store, log: cfg.Logger.Named("rotation"), rec: cfg.Recorder,
		now: cfg.Now, sleep: cfg.Sleep, ownKeyID: cfg.OwnKeyID, concurrency: cfg.Concurrency,
		settle: cfg.CreateSettle, minDeleteDelay: max(cfg.MinDeleteDelay, 0), readOnly: cfg.ReadOnly, fence: cfg.Fence, stopping: cfg.Stopping,
		onDeletionScheduled: cfg.OnDeletionScheduled, otherAccounts: cfg.OtherAccounts,
		gens: map[string]uint64{}, confirmed: map[recordKey]time.Time{}, warnedNames: map[recordKey]bool{},
		searched:      map[recordKey][2]time.Time{},
		warnedTwoKeys: map[recordKey]bool{}, warnedUntrusted: map[recordKey]bool{},
		claims: newTargetClaims(),
	}
}

// SetPolicies replaces the policies, in config order. A key belongs to the
// policy that already manages its name while that policy still matches it,
// else to the first policy that matches: two policies never rotate the
// same key.
//
// It refuses, and changes nothing, when the new policies would strand a
// rotation in flight: its policy is gone, or no longer matches its name
// and role. The error names every such rotation.
func (e *Engine) SetPolicies(p []Policy) error {
	defer e.LockInstall()()
	if !e.readOnly {
		if err := Stranded(e.store, p); err != nil {
			return err
		}
	}
	p = slices.Clone(p)
	for i := range p {
		if p[i].Self != nil {
			p[i].Match = e.selfMatch
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.policies = p
	e.policyGen++
	e.keepSinkChecksOf(p)
	return nil
}

// Install is what a daemon puts in force on an engine: its policies, API
// client, own key and concurrency.
type Install struct {
	Policies    []Policy
	API         apiclient.API
	OwnKeyID    string
	Concurrency int
}

// LockInstall waits for every handler in flight and keeps new ones from
// starting until the returned function is called. In between, Check and
// Commit install a new configuration atomically: a daemon locks every
// account's engine, checks them all, then commits all or none.
func (e *Engine) LockInstall() (unlock func()) {
	// While a reload waits for the handlers running (one may be in a
	// minutes-long consumer check), new handlers do not queue behind it:
	// they see reloadPending and return at once (ReasonReloaded), so the
	// other names' work is skipped for a moment, never frozen, and the
	// reload waits only for the handlers already running.
	e.reloadPending.Add(1)
	e.reloadSignalMu.Lock()
	switch {
	case e.reloadSignal == nil:
		// No handler made one yet; one that entered just now and makes
		// it after this point must get it closed, or the reload waits
		// out its requests' Retry-After.
		e.reloadSignal = make(chan struct{})
		close(e.reloadSignal)
	default:
		select {
		case <-e.reloadSignal:
		default:
			close(e.reloadSignal)
		}
	}
	e.reloadSignalMu.Unlock()
	e.install.Lock()
	return func() {
		e.reloadSignalMu.Lock()
		if e.reloadSignal != nil && e.reloadPending.Load() == 1 {
			// The last reload: the next handler makes a new one. (Another
			// reload waiting for the lock still interrupts the handlers
			// that enter in between: a deleter's, back from its check.)
			select {
			case <-e.reloadSignal:
				e.reloadSignal = nil
			default:
			}
		}
		e.reloadSignalMu.Unlock()
		e.install.Unlock()
		e.reloadPending.Add(-1)
	}
}

// reloadInterrupt returns ctx whose API requests stop waiting (for a
// Retry-After, a retry's backoff) when a reload starts: a server that
// asks to wait must not hold a reload that long. A request already sent
// is not cut off. Call it with install held for reading.
func (e *Engine) reloadInterrupt(ctx context.Context) context.Context {
	e.reloadSignalMu.Lock()
	defer e.reloadSignalMu.Unlock()
	if e.reloadSignal == nil {
		e.reloadSignal = make(chan struct{})
	}
	return apiclient.WithInterrupt(ctx, e.reloadSignal)
}

// AwaitReload returns once no reload holds or waits for the engine (the
// handlers it made skip, ReasonReloaded, may run again under the new
// policies), or ctx ends; it reports whether the reload is over.
func (e *Engine) AwaitReload(ctx context.Context) bool {
	over := make(chan struct{})
	go func() {
		defer close(over)
		for e.reloadPending.Load() > 0 {
			// RLock waits for a reload that holds the lock or waits
			// for it; one between its flag and its Lock is polled.
			e.install.RLock()
			e.install.RUnlock() //nolint:staticcheck // an empty critical section: only the wait matters
			if e.reloadPending.Load() > 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	select {
	case <-over:
		return true
	case <-ctx.Done():
		return false
	}
}

// enterHandler takes the install lock for reading, unless a reload waits
// for it: then it reports false at once, holding nothing.
func (e *Engine) enterHandler() bool {
	for {
		if e.reloadPending.Load() > 0 {
			return false
		}
		if e.install.TryRLock() {
			return true
		}
		// A reload holds the lock, or is between its flag and its Lock.
		time.Sleep(time.Millisecond)
	}
}

// CheckLocked says whether in would strand a rotation in flight. Call it
// between LockInstall and its unlock.
func (e *Engine) CheckLocked(in Install) error {
	if e.readOnly {
		return nil
	}
	if err := Stranded(e.store, in.Policies); err != nil {
		return err
	}
	return e.droppedSinks(in.Policies)
}

// droppedSinks refuses new policies that drop a sink a created rotation
// may have written its new key to (its delivery stopped at a later sink):
// that sink could no longer be read back, so the rotation would be rolled
// back and its key deleted while that sink's consumer holds it. A sink is
// dropped when the policies in force render its id for the name and the
// new ones do not; ids recorded by an earlier version (an upgrade that
// names targets otherwise) are left to the recovery, which reads the
// sinks it does not know.
func (e *Engine) droppedSinks(next []Policy) error {
	current, _ := e.snapshotPolicies()
	var dropped []string
	for _, cur := range current {
		i := slices.IndexFunc(next, func(p Policy) bool { return p.Name == cur.Name })
		if i < 0 || cur.Self != nil {
			continue // a removed policy is Stranded's
		}
		eachRecord(e.store, cur.Name, func(r *state.Record) {
			if r.Rotation == nil || r.Rotation.Phase != state.PhaseCreated {
				return
			}
			for sid := range r.Rotation.Sinks {
				renders := func(p Policy) bool {
					return slices.ContainsFunc(p.Sinks, func(s sinks.Sink) bool { return sinkID(s, r.Name) == sid })
				}
				if renders(cur) && !renders(next[i]) {
					dropped = append(dropped, fmt.Sprintf("%s/%s (its new key may be in %s)", cur.Name, r.Name, sid))
				}
			}
		})
	}
	if len(dropped) == 0 {
		return nil
	}
	slices.Sort(dropped)
	return fmt.Errorf("the new policies drop sinks that rotations in flight may have written their new key to: %s; keep those sinks until the rotations finish (see `rotatord plan`)",
		firstFive(dropped))
}

// firstFive lists items, the first five of them when there are more.
func firstFive(items []string) string {
	if len(items) > 5 {
		return fmt.Sprintf("%s and %d more", strings.Join(items[:5], ", "), len(items)-5)
	}
	return strings.Join(items, ", ")
}

// CommitLocked puts in in force. Call it between LockInstall and its
// unlock, after CheckLocked. No handler runs meanwhile, so the own key is
// settled here: the client signs with what the credential store holds
// (a rotation since the configuration was read may have changed it).
func (e *Engine) CommitLocked(ctx context.Context, in Install) {
	if in.Concurrency <= 0 {
		in.Concurrency = 4
	}
	p := slices.Clone(in.Policies)
	for i := range p {
		if p[i].Self != nil {
			p[i].Match = e.selfMatch
		}
	}
	e.mu.Lock()
	// The credentials the own-key policies sign with before this install:
	// the new client read its key from the store, which may hold a dead
	// key (pasted there by hand) while the one in use works.
	inUse := map[string]sinks.Credential{}
	for _, op := range e.policies {
		if op.Self != nil {
			inUse[op.Name] = op.Self.Current()
		}
	}
	e.policies = p
	e.policyGen++
	e.api, e.ownKeyID, e.concurrency = in.API, in.OwnKeyID, in.Concurrency
	// A reload may fix what failed the deleter's check of the credential's
	// organization under the same key id (its secret, the endpoint): the
	// next round checks again at once.
	e.organizationRefusals = 0
	e.mu.Unlock()
	e.keepSinkChecksOf(p)
	for _, sp := range p {
		if sp.Self != nil {
			e.keepWorkingKey(ctx, sp, inUse[sp.Name])
			e.followStore(ctx, sp)
		}
	}
}

// keepWorkingKey: a reload made the client sign with what the credential
// store holds. When the API refuses that key, or shows it under another
// name or role than rotatord's own key (a ci key pasted there by mistake),
// and accepts prev, the key in use before the reload, the client goes back
// to prev, as a pass would (followStore): trading a working key for a dead
// one would fail every request from then on, with prev's secret gone with
// the old client, and signing as another key would make its name rotatord's
// own. followStore then writes prev back over a dead key.
func (e *Engine) keepWorkingKey(ctx context.Context, p Policy, prev sinks.Credential) {
	cur := p.Self.Current()
	// The same key id with another secret is another credential: the
	// store's may be a secret the API refuses for the key in use.
	if prev.KeyID == "" || prev.Secret.IsZero() || prev.KeyID == cur.KeyID && prev.Secret == cur.Secret {
		return
	}
	why := ""
	var apiErr *apiclient.Error
	switch err := p.Self.Check(ctx, cur); {
	case errors.As(err, &apiErr) && apiErr.Kind == apiclient.KindAuth:
		why = "the API refuses the key the credential store holds"
	case err != nil:
		return // says nothing of the store's key
	default:
		k, err := e.keyAs(ctx, p, cur)
		if err != nil || e.selfMatch(k.Name, k.RoleID) {
			return // rotatord's own key, replaced by hand: use it
		}
		why = "the credential store holds a key that is not rotatord's own key (another name or role)"
	}
	if p.Self.Check(ctx, prev) != nil {
		return
	}
	if _, err := p.Self.Use(prev); err != nil {
		return
	}
	e.setOwn(prev.KeyID)
	e.log.Error(why+": still signing with the key in use before the reload",
		zap.String("policy", p.Name), zap.String("store_key_id", cur.KeyID), zap.String("key_id", prev.KeyID))
}

// FollowOwnKey makes the client sign with what the own key's credential
// store holds: a replica that becomes the leader may have read it long
// ago, before the last leader rotated it.
func (e *Engine) FollowOwnKey(ctx context.Context) {
	defer e.LockInstall()()
	policies, _ := e.snapshotPolicies()
	for _, sp := range policies {
		if sp.Self != nil {
			e.followStore(ctx, sp)
		}
	}
}

// StrandedNow says whether the policies in force strand a rotation in
// flight in the journal as it is now: a new leader checks it after reading
// the journal the last leader wrote.
func (e *Engine) StrandedNow() error {
	policies, _ := e.snapshotPolicies()
	return Stranded(e.store, policies)
}

// Stranded returns an error naming the rotations in flight in j that the
// policies p would leave with no policy to finish them. An open search for
// the keys of a retried create (Record.RetriedCreate) is one too, after
// its rotation ended: only it will delete the keys the create's answered
// attempts made, whose secrets nobody has; unless it can never run again
// (unsearchable: the name's key was replaced since by one of another
// role), which no wait ends: counted, it refused every reload that
// narrowed or removed the policy, and every start, for good.
func Stranded(j state.Journal, p []Policy) error {
	byName := map[string]Policy{}
	for _, pol := range p {
		byName[pol.Name] = pol
	}
	var stranded []string
	for _, r := range j.List("") {
		rot := r.Rotation
		var what string
		switch {
		case rot != nil:
			what = string(rot.Phase)
		case r.RetriedCreate != nil:
			if unsearchable(&r, r.RetriedCreate) != nil {
				continue
			}
			rot, what = r.RetriedCreate, fmt.Sprintf("search for the keys a create answered 429 at %s may have made, which ends at a pass after the settle time",
				r.RetriedCreate.StartedAt.UTC().Format(time.RFC3339))
		default:
			continue
		}
		pol, ok := byName[r.Policy]
		role := rot.RoleID
		if role == "" {
			role = r.RoleID
		}
		switch {
		case !ok:
			stranded = append(stranded, fmt.Sprintf("%s/%s (%s; policy removed)", r.Policy, r.Name, what))
		case pol.Self != nil:
			// The own key's policy follows the key by its id, whatever it
			// is named now.
		case !pol.Match(r.Name, role):
			stranded = append(stranded, fmt.Sprintf("%s/%s (%s; no longer matched by the policy)", r.Policy, r.Name, what))
		default:
			if q := earlierOwner(j, p, r, pol, role); q != "" {
				stranded = append(stranded, fmt.Sprintf("%s/%s (%s; policy %s, before it, matches the name and has a record of it: it would take the name)", r.Policy, r.Name, what, q))
			}
		}
	}
	if len(stranded) == 0 {
		return nil
	}
	return fmt.Errorf("rotations in flight would be stranded: %s; keep each policy matching its names until its rotations finish (see `rotatord plan`)",
		firstFive(stranded))
}

// earlierOwner names the policy of p, before policy own, that would take
// the name from own (Engine.ownerExceptSelf: the first policy that matches
// a name and has an up-to-date record of it; own's, with its rotation in
// flight, is one): one with an old record of the name (it managed the name
// once, and was removed or narrowed since). Its record would then manage
// the name while own's rotation is in flight: the deletion of own's old
// key is refused (managedElsewhere), and the other policy, seeing two live
// keys, rotates neither. "" when none.
//
// Without a listing, whether that record is up to date is worked out from
// own's record, rec (staleBeside); when unknown (its current key may be
// own's old key, still listed) it is taken to be.
func earlierOwner(j state.Journal, p []Policy, rec state.Record, own Policy, role string) string {
	for _, q := range p {
		if q.Name == own.Name {
			return ""
		}
		if q.Self != nil || !q.Match(rec.Name, role) {
			continue
		}
		if r, ok := j.Get(q.Name, rec.Name); ok && !staleBeside(r, rec, own, role) {
			return q.Name
		}
	}
	return ""
}

// staleBeside says whether r, another policy's record of the name whose
// rotation in flight rec is, cannot be up to date (ownerExceptSelf) in any
// listing while that rotation runs: no rotation of its own in flight, and
// no current key, or a current key that rec says was deleted, or one rec
// does not know although own's policy matches its role (rec's rotation
// recorded every key of the name when it began, and own's handler notes
// every key listed of the roles it matches). ci put back first with its
// record of the key ci2 had deleted since took nothing (ci2 manages the
// name), but made every reload refused, and the start of rotatord after a
// crash (it exits), once ci2 rotated again, until ci's own schedule forgot
// that record: which it never did, rotatord not running.
//
// So too a record of another role than role, the rotation's, that names
// none of rec's keys of that role, in flight or not: ownerExceptSelf
// passes it over for every key of that role. ops (any role) placed before
// ci (one role), the two sharing a name by role, made every reload
// refused while ci rotated its key, and the start after a crash.
func staleBeside(r, rec state.Record, own Policy, role string) bool {
	rRole, ids := r.RoleID, []string{r.CurrentKeyID}
	if rot := r.Rotation; rot != nil {
		rRole = cmp.Or(rot.RoleID, rRole)
		ids = append(append(ids, rot.NewKeyID), rot.OldKeyIDs...)
	}
	if rRole != "" && role != "" && !sameRoleID(rRole, role) && !slices.ContainsFunc(ids, func(id string) bool { return id != "" && ownsKey(rec, id) }) {
		return true
	}
	if r.Rotation != nil {
		return false
	}
	cur := r.CurrentKeyID
	if cur == "" || rec.Deleted.Has(cur) {
		return true
	}
	if cur == rec.CurrentKeyID || rec.FirstSeen.Has(cur) {
		return false
	}
	if rot := rec.Rotation; rot != nil && (cur == rot.NewKeyID || slices.Contains(rot.OldKeyIDs, cur) || slices.Contains(rot.KnownKeyIDs, cur)) {
		return false
	}
	return r.RoleID != "" && own.Match(rec.Name, r.RoleID)
}

// ownsKey says whether rec names key id as one of its own: its current
// key, a key its policy saw, or the new or an old key of its rotation.
func ownsKey(rec state.Record, id string) bool {
	if id == rec.CurrentKeyID || rec.FirstSeen.Has(id) {
		return true
	}
	rot := rec.Rotation
	return rot != nil && (id == rot.NewKeyID || slices.Contains(rot.OldKeyIDs, id))
}

// SetCreateSettle changes how long a create whose outcome is unknown is
// searched for (see Config.CreateSettle), after a reload changed the
// request timeout.
func (e *Engine) SetCreateSettle(d time.Duration) {
	if d <= 0 {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.settle = d
}

func (e *Engine) settleTime() time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.settle
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
	e.organizationRefusals = 0 // as CommitLocked
	e.keyFacts = nil
}

// client returns the API client in force.
func (e *Engine) client() apiclient.API {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.api
}

// OwnKeyID returns the id of the key rotatord authenticates with.
func (e *Engine) OwnKeyID() string { return e.own() }

// own returns the id of the key rotatord authenticates with.
func (e *Engine) own() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.ownKeyID
}

// snapshotPolicies returns the policies in force and their generation.
func (e *Engine) snapshotPolicies() ([]Policy, uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.policies), e.policyGen
}

// inForce reports whether the policies of generation gen are still the
// ones installed. Call it with install held.
func (e *Engine) inForce(gen uint64) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.policyGen == gen
}

// lock serializes work on one key name. The unlock also counts the work in
// the name's generation.
func (e *Engine) lock(name string) func() {
	return e.countedUnlock(name, e.locks.Lock(name))
}

// countedUnlock is unlock, a name's lock's, counting the work done under
// it in the name's generation.
func (e *Engine) countedUnlock(name string, unlock func()) func() {
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
	return maps.Clone(e.gens) // a copy of the table's memory: no rehashing
}

// generation returns the generation of one name.
func (e *Engine) generation(name string) uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.gens[name]
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

func (e *Engine) nameSkipped(p Policy, reason SkipReason) {
	if e.rec != nil {
		e.rec.NameSkipped(p.Name, reason)
	}
}

func (e *Engine) deletionRefused(p Policy) {
	if e.rec != nil {
		e.rec.DeletionRefused(p.Name)
	}
}

func (e *Engine) orphanDeleted(p Policy) {
	if e.rec != nil {
		e.rec.OrphanDeleted(p.Name)
	}
}

// fail records a failed step durably and reports it.
func (e *Engine) fail(p Policy, rec *state.Record, start time.Time, err error) error {
	now := e.now()
	rec.Failures++
	rec.LastFailure = now
	rec.LastError = err.Error()
	oweFailureHooks(p, rec)
	if perr := e.store.Put(*rec); perr != nil {
		err = fmt.Errorf("%w; state: %v", err, perr)
	} else if rot := rec.Rotation; rot != nil && rot.Phase == state.PhaseDelivered {
		// A delivered rotation on record now, whose own write failed
		// before it could be announced (markDelivered): its deletion is
		// scheduled all the same.
		e.deletionScheduled(rot.DeleteAfter)
	}
	e.log.Error("rotation failed", zap.String("policy", p.Name), zap.String("name", rec.Name),
		zap.Int("failures", rec.Failures), zap.Error(err))
	e.rotationDone(p, false, now.Sub(start))
	e.onFailure(p, rec, err)
	return err
}

// SinkLabel names the i-th sink of a policy in metric labels: bounded by the config.
func SinkLabel(i int, kind string) string { return fmt.Sprintf("%s#%d", kind, i) }

func sinkLabel(i int, s sinks.Sink) string { return SinkLabel(i, s.Kind()) }

// sinkID names a sink's target for one name in the journal: stable across
// reloads that reorder sinks, unlike its label.
func sinkID(s sinks.Sink, name string) string { return s.Kind() + ":" + s.Target(name) }
