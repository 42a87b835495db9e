package rotation

// The last step: the old keys go once the grace period is over. The invariants
// kept: the replacement still exists (else the old keys stay and the name
// rotates again); no sink holds, or may hold, a key about to be deleted;
// a key is deleted only if the API shows it with the record's name and
// role and the policy still matches it, and no other policy in force
// manages it (an edited record cannot aim a deletion at another key); and
// at least min(grace period, MinDeleteDelay)
// passes on this process's own clock between confirming the new key and
// deleting the old ones, so a wall clock that jumped forward across a
// restart cannot cut the grace period to nothing.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/hooks"
	"github.com/rotatord/rotatord/sinks"
	"github.com/rotatord/rotatord/state"
)

// ErrDeletionRefused is in the error of a deletion that left an old key
// alone: the API does not show it as the name's key the policy matches
// (an edited record), or rotatord signs with it. The rotation is over
// all the same and nothing is retried: the key waits for an operator.
var ErrDeletionRefused = errors.New("deletion refused")

// DeleteDue deletes the old keys of every rotation whose grace period is
// over, without listing the keys: it is what fires between cron ticks. Due
// names are handled in parallel, as many as a pass handles. A deletion
// that failed backs off, unless opts says IgnoreBackoff (`once`).
func (e *Engine) DeleteDue(ctx context.Context, opts ...Options) []Outcome {
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	type due struct {
		p    Policy
		name string
	}
	var todo []due
	now := e.now()
	policies, gen := e.snapshotPolicies()
	for _, p := range policies {
		// Every DeleteCheckInterval, over every record: no copy of them
		// (an idle daemon would otherwise allocate, and collect, the
		// whole journal a few times a minute), only of the due names.
		start := len(todo)
		eachRecord(e.store, p.Name, func(r *state.Record) {
			if r.Rotation == nil || r.Rotation.Phase != state.PhaseDelivered || now.Before(deleteAt(r.Rotation, p.GracePeriod)) {
				return
			}
			if o.Skip != nil && o.Skip(p.Name, r.Name) {
				return
			}
			todo = append(todo, due{p, r.Name})
		})
		slices.SortFunc(todo[start:], func(a, b due) int { return strings.Compare(a.name, b.name) })
	}
	e.mu.Lock()
	sem := make(chan struct{}, max(1, e.concurrency))
	// A name another round still handles (its consumer check may run for
	// minutes) is left to it: rounds run beside each other, and one must
	// not wait for the other's name.
	if e.deleting == nil {
		e.deleting = map[recordKey]bool{}
	}
	mine := todo[:0]
	for _, d := range todo {
		if k := (recordKey{d.p.Name, d.name}); !e.deleting[k] {
			mine = append(mine, d)
		}
	}
	todo = mine
	e.mu.Unlock()
	// A name is this round's once it has a slot, not before: one waiting
	// behind hung consumer checks that fill every slot is taken by the
	// next round, which does not wait for them.
	take := func(k recordKey) bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.deleting[k] {
			return false
		}
		e.deleting[k] = true
		return true
	}
	if o.IgnoreWindows {
		// For the steps that do not see o (the window's check after the
		// consumer check).
		ctx = context.WithValue(ctx, ignoreWindowsKey{}, true)
	}
	// One index of the targets for the round, as for a pass: a catch-up
	// of each name reading the whole journal made a round O(N²).
	round := &passWork{done: map[string]uint64{}, pass: e.claims.enter()}
	defer e.claims.leave(round.pass)
	// Once per round, and only when a name gets as far as the API: the
	// credential's organization (organizationBeforeDeleting).
	organization := sync.OnceValues(func() (string, error) { return e.organizationBeforeDeleting(ctx) })
	out := make([]Outcome, len(todo))
	ran := make([]bool, len(todo))
	var wg sync.WaitGroup
	for i, d := range todo {
		sem <- struct{}{}
		k := recordKey{d.p.Name, d.name}
		if !take(k) {
			<-sem // another round has it now
			continue
		}
		ran[i] = true
		wg.Add(1)
		go func() {
			defer func() {
				e.mu.Lock()
				delete(e.deleting, k)
				e.mu.Unlock()
				<-sem
				wg.Done()
			}()
			out[i] = e.deleteDue(ctx, d.p, d.name, gen, o, round, organization)
		}()
	}
	wg.Wait()
	n := 0
	for i := range out {
		if ran[i] {
			out[n] = out[i]
			n++
		}
	}
	return out[:n]
}

// NextDeletion returns the earliest time after after at which a delivered
// rotation's old keys become due (its grace period ends, or this process's
// confirmation delay does), and false when none will. The deleter passes
// when its last round began: deletions due before were tried then, and
// those still waiting (a window, a backoff) are retried on its own
// schedule, so they must not hide the next one; a deletion that fell due
// during the round was not tried, and is returned (a time already past:
// the deleter goes again at once).
func (e *Engine) NextDeletion(after time.Time) (time.Time, bool) {
	var next time.Time
	policies, _ := e.snapshotPolicies()
	now := e.now()
	// A confirmation by this process whose delay still runs
	// (confirmWaiting) holds its deletion until the delay ends; one not
	// made, or over, answers "now" (confirmDue): not a time to wake at
	// (that would wake again and again). The waiting ones are those of
	// the last few seconds: read first, under e.mu, not while the
	// journal's lock is held.
	// Keyed by policy name: names are unique (the config refuses two
	// policies of one name).
	delays := make(map[string]time.Duration, len(policies))
	for _, p := range policies {
		delays[p.Name] = min(p.GracePeriod, e.minDeleteDelay)
	}
	waiting := map[recordKey]time.Time{}
	e.mu.Lock()
	for k, at := range e.confirmed {
		if delay, ok := delays[k.policy]; ok {
			if wait := delay - now.Sub(at); wait > 0 {
				waiting[k] = now.Add(wait)
			}
		}
	}
	e.mu.Unlock()
	for _, p := range policies {
		// Every record, without a copy (at 10,000 names a copy of each
		// delivered one cost 16 MB).
		eachRecord(e.store, p.Name, func(r *state.Record) {
			if r.Rotation == nil || r.Rotation.Phase != state.PhaseDelivered {
				return
			}
			t := deleteAt(r.Rotation, p.GracePeriod)
			// A confirmation only ever makes t later: it matters only
			// where t would be the next (next, when set, is after after).
			if len(waiting) > 0 && (next.IsZero() || t.Before(next)) {
				if c, ok := waiting[recordKey{p.Name, r.Name}]; ok && c.After(t) {
					t = c
				}
			}
			if t.After(after) && (next.IsZero() || t.Before(next)) {
				next = t
			}
		})
	}
	return next, !next.IsZero()
}

func (e *Engine) deleteDue(ctx context.Context, p Policy, name string, gen uint64, opts Options, round *passWork, organization func() (string, error)) Outcome {
	unlock := e.lock(name)
	defer unlock()
	o := Outcome{Policy: p.Name, Name: name, Decision: Decision{Action: ActionDelete, Reason: ReasonGraceOver}}
	if !e.enterHandler() {
		o.Decision = Decision{Action: ActionNone, Reason: ReasonReloaded}
		return o // a reload is waiting: the next round runs under it
	}
	defer e.install.RUnlock()
	ctx = e.reloadInterrupt(ctx)
	if !e.inForce(gen) {
		o.Decision = Decision{Action: ActionNone, Reason: ReasonReloaded}
		return o // the next round sees the new policies and their sinks
	}
	rec, ok := e.store.Get(p.Name, name)
	now := e.now()
	if !ok || rec.Rotation == nil || rec.Rotation.Phase != state.PhaseDelivered || now.Before(deleteAt(rec.Rotation, p.GracePeriod)) {
		o.Decision = Decision{Action: ActionNone}
		return o // a concurrent pass got there first
	}
	if !opts.IgnoreWindows && !p.Windows.Contains(now) {
		o.Decision = Decision{Action: ActionNone, Reason: ReasonOutsideWindow, Due: p.Windows.NextOpen(now)}
		return o
	}
	if rec.Failures > 0 && !opts.IgnoreBackoff {
		// A deletion that failed backs off like any step, so a sink that
		// blocks it is not read, nor the API asked, every few seconds.
		if due := rec.LastFailure.Add(Backoff(rec.Failures)); now.Before(due) {
			o.Decision = Decision{Action: ActionNone, Reason: ReasonBackoff, Due: due}
			return o
		}
	}
	// Another organization's credential: its listings do not show the
	// journal's new keys, which the deletion would take for vanished.
	// The record stays as it is.
	checked, err := organization()
	if wait, ok := asWait(err); ok {
		o.Decision = Decision{Action: ActionNone, Reason: wait.reason, Due: wait.due}
		return o
	}
	if err != nil {
		o.Err = err
		return o
	}
	if !e.credentialChecked(checked) {
		o.Decision = Decision{Action: ActionNone, Reason: ReasonReloaded}
		return o // the next round checks the credential now in force
	}
	// The hooks below may run for minutes (up to their timeout): a
	// reload does not wait for them (outsideInstall). One that changed
	// only the credential (the policy as it was) lets the handler go on:
	// not under a credential whose organization nobody checked (another
	// organization's would show the new key missing, and the deletion
	// take it as vanished and forget the old keys).
	ctx = context.WithValue(ctx, installHeldKey{}, installHeld{gen: gen, checked: checked})
	ctx, err = e.outsideInstall(ctx, &p, func() { e.runPendingAfterDelivery(ctx, p, &rec) })
	if err != nil || !e.credentialChecked(checked) {
		o.Decision = Decision{Action: ActionNone, Reason: ReasonReloaded}
		return o
	}
	o.Err = e.deleteOld(ctx, p, &rec, false, nil, round)
	if wait, ok := asWait(o.Err); ok {
		o.Err = nil
		o.Decision = Decision{Action: ActionNone, Reason: wait.reason, Due: wait.due}
	}
	return o
}

// deleteAt is when a delivered rotation's old keys may go: the end of the
// grace period its delivery recorded, or later, when the policy in force
// has a longer grace_period since (a reload that lengthens it holds the
// deletions pending too: it is the consumers' time to pick the new key
// up; one that shortens it does not bring them forward).
func deleteAt(rot *state.Rotation, grace time.Duration) time.Time { return rot.DeleteAt(grace) }

// installHeldKey marks the context of a deleter's handler (deleteDue)
// that holds the engine's install lock for reading, with an installHeld.
type installHeldKey struct{}

// installHeld is what a deleter's handler decided under: the policy
// generation, and the key of the credential whose organization it
// checked (organizationBeforeDeleting).
type installHeld struct {
	gen     uint64
	checked string
}

// outsideInstall runs fn, a hook that may run for minutes, without the
// install lock the handler holds (the deleter's: installHeldKey; a
// pass's: passHandlerKey), so that a reload need not wait for a hung
// consumer check, and every other name's work with it (enterHandler).
// The name's own lock is kept: nothing else acts on it meanwhile.
// Policies reloaded while fn ran end the handler (a ReasonReloaded wait):
// what it decided was decided under the old ones, and the next round
// decides again. Unless, in the deleter, the reload left p as the policy
// file had it (the same Fingerprint): reloads of an unchanged file that
// come more often than the check takes would otherwise end every check,
// and the old keys would never go. The handler then goes on with the
// policy in force (*p: its sinks, the old ones closed), but only while
// the credential is the one whose organization it checked
// (installHeld.checked): a reload that left the policy as it was may
// have changed the credential alone (its file), and another
// organization's would show the new key missing. A pass's handler never
// goes on after a reload (as afterDeliveryInPass): it has no such check,
// and the deleter, which has, takes the old keys then.
//
// It returns the context the handler goes on with: a reload that went
// through meanwhile interrupted the API waits of ctx (reloadInterrupt),
// and is over; the requests after it wait out a Retry-After or a retry's
// backoff again, until the next reload.
func (e *Engine) outsideInstall(ctx context.Context, p *Policy, fn func()) (context.Context, error) {
	if gen, inPass := ctx.Value(passHandlerKey{}).(uint64); inPass {
		e.install.RUnlock()
		fn()
		e.install.RLock() // after a reload under way: it is quick without the hooks
		ctx = e.reloadInterrupt(ctx)
		if !e.inForce(gen) {
			return ctx, &waitErr{reason: ReasonReloaded}
		}
		return ctx, nil
	}
	held, ok := ctx.Value(installHeldKey{}).(installHeld)
	if !ok {
		fn()
		return ctx, nil
	}
	e.install.RUnlock()
	fn()
	e.install.RLock() // after a reload under way: it is quick without the hooks
	ctx = e.reloadInterrupt(ctx)
	if !e.inForce(held.gen) {
		q, ok := e.unchangedInForce(*p)
		if !ok || !e.credentialChecked(held.checked) {
			// A reload that left the policy as it was may have changed
			// the credential alone (its file): another organization's
			// would show the new key missing. The next round checks it.
			return ctx, &waitErr{reason: ReasonReloaded}
		}
		*p = q
	}
	return ctx, nil
}

// unchangedInForce returns the policy in force that is p as the policy
// file had it when p was built (its Fingerprint, set).
func (e *Engine) unchangedInForce(p Policy) (Policy, bool) {
	if p.Fingerprint == "" {
		return Policy{}, false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, q := range e.policies {
		if q.Name == p.Name && q.Fingerprint == p.Fingerprint {
			return q, true
		}
	}
	return Policy{}, false
}

// noteConfirmed records that this process confirmed the new key of a
// delivered rotation now; deleteAfter is the end of its grace period.
func (e *Engine) noteConfirmed(p Policy, name string, deleteAfter time.Time) {
	now := e.now()
	e.mu.Lock()
	e.confirmed[recordKey{p.Name, name}] = now
	e.mu.Unlock()
	// A rotation was delivered, or its new key confirmed: its old keys
	// are due when the grace period ends, or this confirmation's delay
	// does if later (the time NextDeletion gives it).
	at := deleteAfter
	if c := now.Add(min(p.GracePeriod, e.minDeleteDelay)); c.After(at) {
		at = c
	}
	e.deletionScheduled(at)
}

// deletionScheduled tells the deletion timer (Config.OnDeletionScheduled)
// that a deletion now on record falls due at at. Called once the record
// is written: a timer that fired before would not find it.
func (e *Engine) deletionScheduled(at time.Time) {
	if e.onDeletionScheduled != nil {
		e.onDeletionScheduled(at)
	}
}

// ForgetConfirmations drops this process's confirmations of new keys. A
// replica that leads again calls it: the leader in between may have
// finished those rotations and delivered others on the same names, which
// a confirmation kept from before would pass as confirmed, skipping their
// delay. Each is confirmed anew, and waits, as after a restart.
func (e *Engine) ForgetConfirmations() {
	e.mu.Lock()
	clear(e.confirmed)
	e.mu.Unlock()
}

// confirmDue returns the wall-clock time at which this process's own
// confirmation of a name's new key is old enough to delete the old keys;
// now when it is, or when nothing was confirmed yet (the confirmation
// comes first).
func (e *Engine) confirmDue(p Policy, name string) time.Time {
	e.mu.Lock()
	at, ok := e.confirmed[recordKey{p.Name, name}]
	e.mu.Unlock()
	now := e.now()
	if !ok {
		return now
	}
	// Sub uses the monotonic clock when both readings carry it, as
	// time.Now's do: a wall clock that jumps does not shorten the wait.
	wait := min(p.GracePeriod, e.minDeleteDelay) - now.Sub(at)
	if wait <= 0 {
		return now
	}
	return now.Add(wait)
}

// confirmWaiting reports whether this process confirmed the new key of
// that rotation and its confirmation delay still runs.
func (e *Engine) confirmWaiting(p Policy, name string) bool {
	e.mu.Lock()
	at, ok := e.confirmed[recordKey{p.Name, name}]
	e.mu.Unlock()
	return ok && e.now().Sub(at) < min(p.GracePeriod, e.minDeleteDelay)
}

// managedElsewhere names the policy in force, other than p, that manages
// key k (owner: the pass gives k's name to it, not to p; with listed, the
// keys a listing shows under k's name, or nil: k the one key listed, so
// that a record naming k counts as up to date) and
// whose record of k's name names k (its current key, or the new or an old
// key of its rotation); "" when none. Two policies never manage one key: a record of
// p that aims a deletion at such a key was edited, or restored from
// another configuration, and deleting the key would take it from the
// other policy's consumers. Overlapping globs ("ci-*" and "ci-r*") both
// match the key, so p.Match cannot tell.
func (e *Engine) managedElsewhere(p Policy, k apiclient.Key, listed []apiclient.Key) string {
	policies, _ := e.snapshotPolicies()
	q := e.owner(policies, k, listed)
	if q == "" || q == p.Name {
		return ""
	}
	r, ok := e.store.Get(q, k.Name)
	if !ok {
		return ""
	}
	if r.CurrentKeyID == k.ID {
		return q
	}
	if rot := r.Rotation; rot != nil && (rot.NewKeyID == k.ID || slices.Contains(rot.OldKeyIDs, k.ID)) {
		return q
	}
	return ""
}

// refuseManagedElsewhere logs and counts a deletion of key id that p's
// record asks for, which policy other manages.
func (e *Engine) refuseManagedElsewhere(p Policy, rec *state.Record, id, other string) error {
	e.log.Error("refusing to delete a key the record lists but another policy manages (an edited state record?)",
		zap.String("policy", p.Name), zap.String("name", rec.Name), zap.String("key_id", id), zap.String("managed_by", other))
	e.deletionRefused(p)
	return fmt.Errorf("key %s is policy %s's, whose record names it (an edited state record?)", id, other)
}

// deleteOld is the last step: the old keys go, the new one stays. confirmed says
// the new key was checked through the API a moment ago; otherwise it is
// checked again, since the grace period gave time for it to vanish.
// listed, when not nil, is a fresh listing of the name's keys by id; else
// each old key is looked up.
func (e *Engine) deleteOld(ctx context.Context, p Policy, rec *state.Record, confirmed bool, listed map[string]apiclient.Key, pass *passWork) error {
	rot := rec.Rotation
	log := e.log.With(zap.String("policy", p.Name), zap.String("name", rec.Name))
	api := e.client()
	failDelete := func(err error) error {
		if ctx.Err() != nil {
			// rotatord stops (or loses the lead) mid-deletion, a consumer
			// check running: not a failure of the deletion, which the next
			// pass tries again. What was done is kept.
			_ = e.store.Put(*rec)
			log.Warn("deleting old keys interrupted; tried again at the next pass", zap.Error(err))
			return err
		}
		rec.Failures++
		rec.LastFailure = e.now()
		rec.LastError = err.Error()
		oweFailureHooks(p, rec)
		_ = e.store.Put(*rec)
		log.Error("deleting old keys failed", zap.Error(err))
		e.onFailure(p, rec, err)
		return err
	}
	newKeyVanished := func(when string) error {
		// Deleting the old keys now would leave the name with none.
		// Keep them and rotate again at once.
		log.Warn("the new key vanished "+when+": keeping the old keys and rotating again",
			zap.String("key_id", rot.NewKeyID))
		rec.Rotation = nil
		rec.CurrentKeyID = ""
		rec.Failures, rec.LastError, rec.LastFailure = 0, "", time.Time{} // a new situation
		if err := e.store.Put(*rec); err != nil {
			return err
		}
		// That confirmation was of the vanished key: a rotation
		// recorded later (an adoption) is confirmed anew, and waits.
		e.mu.Lock()
		delete(e.confirmed, recordKey{p.Name, rec.Name})
		e.mu.Unlock()
		// Not a deletion done: the sinks hold a key that signs nothing
		// until the name rotates again, and nothing on record (no
		// rotation in flight, no failure) asks for a pass. The outcome
		// says so, for the daemon to run one now, not at the schedule.
		return &waitErr{reason: ReasonNewKeyVanished, due: e.now()}
	}
	if !confirmed {
		ex, err := e.keyExists(ctx, rec, rot.NewKeyID, rot.NewCreatedAt)
		switch {
		case err != nil:
			return failDelete(fmt.Errorf("confirm new key before deleting old keys: %w", err))
		case ex == unsure:
			return failDelete(fmt.Errorf("confirm new key before deleting old keys: the API does not show key %s yet", rot.NewKeyID))
		case ex == gone:
			return newKeyVanished("during the grace period")
		}
		k := recordKey{p.Name, rec.Name}
		e.mu.Lock()
		_, seen := e.confirmed[k]
		e.mu.Unlock()
		if !seen {
			e.noteConfirmed(p, rec.Name, deleteAt(rot, p.GracePeriod))
		}
		if due := e.confirmDue(p, rec.Name); e.now().Before(due) {
			return &waitErr{reason: ReasonConfirming, due: due}
		}
	}
	wrote, err := e.catchUp(ctx, p, rec, pass)
	if err != nil {
		return failDelete(fmt.Errorf("deliver the new key to a sink added since: %w", err))
	}
	if wrote {
		// A sink added since was just given the new key (it may have
		// held an old one): its consumer is told, as the others were,
		// before the old keys go (catchUp recorded the hooks as owed).
		if ctx, err = e.outsideInstall(ctx, &p, func() { e.runPendingAfterDelivery(ctx, p, rec) }); err != nil {
			return err
		}
	}
	// The consumer check: a before_delete hook that fails keeps the old
	// keys, and is tried again after the failure's backoff.
	// An after_delivery hook still owed keeps the old keys too: clearing
	// the rotation would forget that it is owed (at least once). Each
	// caller ran it already (a pass before deciding, a rotation after its
	// delivery, the deleter before calling): once per attempt.
	if slices.Contains(rot.HooksPending, hooks.AfterDelivery) {
		return failDelete(errors.New("not deleting old keys: an after_delivery hook has not succeeded yet"))
	}
	var checkStart time.Time
	if hasHook(p, hooks.BeforeDelete) && slices.ContainsFunc(rot.OldKeyIDs, func(id string) bool { return id != rot.NewKeyID && id != rec.CurrentKeyID }) {
		checkStart = e.now()
		var herr error
		if ctx, err = e.outsideInstall(ctx, &p, func() { herr = e.runHooks(ctx, hooks.BeforeDelete, p, rec, "") }); err != nil {
			log.Info("the policies were reloaded during the consumer check (before_delete): the next round runs it again under the new ones")
			return err
		}
		if herr != nil {
			return failDelete(fmt.Errorf("not deleting old keys: %w", herr))
		}
	}
	if wrote || !checkStart.IsZero() {
		// A hook may have run for up to 30 minutes since the new key was
		// confirmed: one that passes although the new key was deleted
		// meanwhile (a consumer check that tested a cached client, or
		// lies) would otherwise let the old keys go too, and leave the
		// name with no live key while its sinks hold a dead one.
		ex, err := e.keyExists(ctx, rec, rot.NewKeyID, rot.NewCreatedAt)
		switch {
		case err != nil:
			return failDelete(fmt.Errorf("confirm new key after the hooks: %w", err))
		case ex == unsure:
			return failDelete(fmt.Errorf("confirm new key after the hooks: the API does not show key %s", rot.NewKeyID))
		case ex == gone:
			return newKeyVanished("while the hooks ran")
		}
	}
	// The window was open when the deletion was decided; a consumer check
	// (up to 30 minutes, a webhook's retries longer) may have outlasted
	// it. The old keys then wait for the next window, and its check.
	if now := e.now(); !ignoringWindows(ctx) && !p.Windows.Contains(now) {
		next := p.Windows.NextOpen(now)
		if !checkStart.IsZero() && p.Windows.Contains(checkStart) {
			// Not a wait like any other: a check that takes longer than
			// the window stays open ends late in every window, and the
			// old keys are never deleted.
			log.Warn("the consumer check (before_delete) ended after the window closed: the old keys wait for the next window, where it runs again; a check that takes longer than the window is open never lets them be deleted (shorten the check or widen the window)",
				zap.Duration("check_took", now.Sub(checkStart)), zap.Time("check_started", checkStart), zap.Time("next_window", next), zap.Strings("old_key_ids", rot.OldKeyIDs))
		}
		return &waitErr{reason: ReasonOutsideWindow, due: next}
	}
	role := rot.RoleID
	if role == "" {
		role = rec.RoleID
	}
	// The keys left alone, and why, and those deleted: a deletion that
	// refused a key is told as a failure (the caller's outcome, once's
	// row and exit code), not as done, though nothing is retried.
	var refused, deleted []string
	for _, id := range slices.Clone(rot.OldKeyIDs) {
		if id == rot.NewKeyID || id == rec.CurrentKeyID {
			continue
		}
		if id == e.own() {
			log.Warn("not deleting the key rotatord authenticates with", zap.String("key_id", id))
			refused = append(refused, fmt.Sprintf("key %s is the key rotatord authenticates with", id))
			continue
		}
		if done := rec.Deleted.Has(id); done {
			continue
		}
		k, err := e.lookup(ctx, listed, id)
		if errors.Is(err, apiclient.ErrNotFound) && listed == nil {
			// No single "not found" ends a rotation: a GET can lag. A
			// listing decides, and serves the other old keys too.
			keys, lerr := api.ListKeys(ctx)
			if lerr != nil {
				return failDelete(fmt.Errorf("look up old key %s: the API answered not found; list keys to check: %w", id, lerr))
			}
			listed = listedByID(keys)
			if lk, ok := listed[id]; ok {
				k, err = lk, nil
				if lk.Name == "" || lk.RoleID == "" {
					// Every field of the API's schema is optional: a key
					// listed without its name or role is neither gone nor
					// another's. Look again later.
					return failDelete(fmt.Errorf("look up old key %s: the API answered not found, and its listing shows the key without its name or role: looking again later", id))
				}
			}
		}
		if errors.Is(err, apiclient.ErrNotFound) {
			continue // already gone: neither a GET nor a listing shows it
		}
		if err != nil {
			return failDelete(fmt.Errorf("look up old key %s: %w", id, err))
		}
		if p.Self != nil && k.Name == rec.Name && sameRoleID(k.RoleID, role) && !p.Match(k.Name, k.RoleID) {
			// A key of rotatord's former own name and role (the store
			// given a key of another name or role): not deleted, as the
			// store is the operator's input, but kept on record, so the
			// deletion stays overdue and is done once the former own key
			// is back in the store.
			return failDelete(fmt.Errorf("not deleting old key %s: it has the recorded name %s and role %s, and rotatord now signs with a key of another name or role (%s); put the former own key back in the credential store, or delete the keys of the former own name by hand",
				id, shown(k.Name), shown(k.RoleID), e.own()))
		}
		if k.Name != rec.Name || !sameRoleID(k.RoleID, role) || !p.Match(k.Name, k.RoleID) {
			// The record names a key that is not, or no longer, this
			// policy's: an edited record, or a policy changed since. Leave
			// that key alone.
			log.Error("refusing to delete a key the record lists but the policy does not own",
				zap.String("key_id", id), zap.String("api_name", shown(k.Name)), zap.String("api_role_id", shown(k.RoleID)))
			e.deletionRefused(p)
			rot.OldKeyIDs = without(rot.OldKeyIDs, id)
			if k.Name == rec.Name && sameRoleID(k.RoleID, role) {
				// Name and role as recorded: it is the policy that no
				// longer matches them (its match changed; for the own
				// key, rotatord signs with a key of another name or role).
				refused = append(refused, fmt.Sprintf("key %s has the recorded name %s and role %s, which the policy no longer matches (its match changed, or rotatord's own key is now of another name or role)",
					id, shown(k.Name), shown(k.RoleID)))
			} else {
				refused = append(refused, fmt.Sprintf("the API shows key %s with name %s and role %s, not as a key of this name and role %s that the policy matches (an edited state record?)",
					id, shown(k.Name), shown(k.RoleID), shown(role)))
			}
			continue
		}
		if other := e.managedElsewhere(p, k, nil); other != "" {
			rot.OldKeyIDs = without(rot.OldKeyIDs, id)
			refused = append(refused, e.refuseManagedElsewhere(p, rec, id, other).Error())
			continue
		}
		if err := e.blocksDeletion(ctx, p, rec, id); err != nil {
			return failDelete(fmt.Errorf("not deleting old key: %w", err))
		}
		if err := api.DeleteKey(ctx, id); err != nil {
			return failDelete(fmt.Errorf("delete old key %s: %w", id, err))
		}
		noteDeleted(rec, id, e.now())
		deleted = append(deleted, id)
		log.Info("old key deleted", zap.String("step", "deleted"), zap.String("key_id", id))
	}
	rec.Rotation = nil
	rec.Failures, rec.LastError, rec.LastFailure = 0, "", time.Time{}
	e.mu.Lock()
	delete(e.confirmed, recordKey{p.Name, rec.Name})
	e.mu.Unlock()
	if err := e.store.Put(*rec); err != nil {
		return err
	}
	if len(refused) > 0 {
		done := "no old key deleted"
		if len(deleted) > 0 {
			done = "deleted " + strings.Join(deleted, ", ")
		}
		return fmt.Errorf("%w, key left alone: %s; %s", ErrDeletionRefused, strings.Join(refused, "; "), done)
	}
	return nil
}

// lookup returns key id from a fresh listing, or from the API (by GET).
func (e *Engine) lookup(ctx context.Context, listed map[string]apiclient.Key, id string) (apiclient.Key, error) {
	if listed != nil {
		// A listing entry without the key's name or role (every field of
		// the API's schema is optional) says nothing about them: taken as
		// is, it read as a key of another name or role, the deletion was
		// refused and the old key lived on. The key is asked for instead.
		if k, ok := listed[id]; ok && k.Name != "" && k.RoleID != "" {
			return k, nil
		}
	}
	return getKey(ctx, e.client(), id)
}

func without(ids []string, id string) []string {
	out := make([]string, 0, len(ids))
	for _, x := range ids {
		if x != id {
			out = append(out, x)
		}
	}
	return out
}

// catchUp delivers the rotation's new key to every sink rotatord has not
// recorded delivering it to (a sink a reload added during the grace
// period), with the secret a sink that has it gives back. Such a sink
// holds, or may hold, an old key: left as it is, it would block that key's
// deletion for good. With no sink to copy from, it does nothing, and the
// deletion check decides.
func (e *Engine) catchUp(ctx context.Context, p Policy, rec *state.Record, pass *passWork) (wrote bool, err error) {
	rot := rec.Rotation
	// Two sinks of one id cannot be told apart on record: the second
	// would count as caught up.
	if err := oneIDOnTwoServers(p, rec.Name); err != nil {
		return false, err
	}
	var missing []int
	for i, s := range p.Sinks {
		if !rot.Sinks[sinkID(s, rec.Name)].Delivered {
			missing = append(missing, i)
		}
	}
	if len(missing) == 0 {
		return false, nil
	}
	if err := e.claimTargets(pass.targetsOf(e), p, rec.Name); err != nil {
		return false, err
	}
	// With sink_check, the new key (the current one once delivered) is
	// copied only from a sink that still holds what rotatord wrote there,
	// as syncSinks does: a file a check found edited under the key's id is
	// no source. Without it, as before: a source refused for a harmless
	// change (a consumer that reformats its file) would leave a sink that
	// holds the old key blocking the deletion, and the rotations after it.
	var cred *sinks.Credential
	if p.SinkCheck > 0 && rec.CurrentKeyID == rot.NewKeyID {
		cred = e.trustedCopy(ctx, p, rec, nil)
	} else {
		cred = e.copyOf(ctx, p, rec, rot.NewKeyID)
	}
	if cred == nil {
		return false, nil
	}
	cred.CreatedAt = rot.NewCreatedAt
	recordSinks(rot, p.Sinks, rec.Name)
	markNew(rot, p.Sinks, *cred)
	if err := e.store.Put(*rec); err != nil {
		return false, err
	}
	for _, i := range missing {
		s := p.Sinks[i]
		label := sinkLabel(i, s)
		if err := e.writeTo(ctx, p, i, *cred); err != nil {
			return false, fmt.Errorf("sink %s: %w", label, err)
		}
		sid := sinkID(s, rec.Name)
		m := rot.Sinks[sid]
		m.Delivered = true
		rot.Sinks[sid] = m
		rec.Delivered.Set(sid, state.Delivery{KeyID: rot.NewKeyID, Fingerprint: m.New})
		// The sink just given the new key owes the after_delivery hooks
		// again, in the write that records its delivery: the final one
		// below (a crash before it writes the sink again, and owes the
		// hooks then), or the failed deletion's when a later sink refuses
		// the key (that sink may then be removed by a reload, leaving
		// nothing to catch up, and this sink's consumer never told).
		if hasHook(p, hooks.AfterDelivery) && !slices.Contains(rot.HooksPending, hooks.AfterDelivery) {
			rot.HooksPending = append(slices.Clip(rot.HooksPending), hooks.AfterDelivery)
		}
		e.log.Info("delivered the current key to a sink added since the rotation",
			zap.String("policy", p.Name), zap.String("name", rec.Name), zap.String("sink", label),
			zap.String("target", s.Target(rec.Name)), zap.String("key_id", rot.NewKeyID))
	}
	return true, e.store.Put(*rec)
}

// eachRecord calls fn with each record of policy, without copies when the
// journal offers Each (state.Store and kubestate.Store do), else over List.
// fn runs under the journal's lock: it must be quick and keep nothing.
func eachRecord(j state.Journal, policy string, fn func(r *state.Record)) {
	if e, ok := j.(interface {
		Each(policy string, fn func(r *state.Record))
	}); ok {
		e.Each(policy, fn)
		return
	}
	for _, r := range j.List(policy) {
		fn(&r)
	}
}

// Unsettled returns the names of policy whose record has a rotation in
// flight that is not delivered: a create whose outcome is unknown, a new
// key not in every sink yet, a rolled-back key the API does not show yet,
// or the search for the keys of a retried create (state.Record.RetriedCreate).
// Such a rotation may leave a live key that no sink holds until a pass
// settles it; the daemon runs one as soon as it can (daemon/run.go,
// followUp) instead of at the policy's next scheduled time, hours away.
func (e *Engine) Unsettled(policy string) map[string]bool {
	var names map[string]bool
	eachRecord(e.store, policy, func(r *state.Record) {
		if (r.Rotation != nil && r.Rotation.Phase != state.PhaseDelivered) || r.RetriedCreate != nil {
			if names == nil {
				names = map[string]bool{}
			}
			names[r.Name] = true
		}
	})
	return names
}

// RetryDue is the earliest time after after that a failed step of policy
// with no rotation in flight (a create the API refused, a listing of a
// name that failed) may be tried again: the end of its backoff. Zero when
// none waits. Backoffs that ended by then do not count: a failure the
// passes since left alone (its key no longer due) would otherwise hide
// the backoff of one that came later. The
// daemon runs a pass then (daemon/run.go, followUp): the policy's next
// scheduled pass may be a day away, and a key due for rotation, or a
// consumer's loss to repair, would wait for it. Rotations in flight are
// Unsettled's; delivered ones wait for the deleter, which keeps its own
// time.
func (e *Engine) RetryDue(policy string, after time.Time) time.Time {
	var due time.Time
	eachRecord(e.store, policy, func(r *state.Record) {
		if r.Rotation != nil || r.Failures == 0 {
			return
		}
		if at := r.LastFailure.Add(Backoff(r.Failures)); at.After(after) && (due.IsZero() || at.Before(due)) {
			due = at
		}
	})
	return due
}
