package rotation

// A policy's hooks, at three points of a rotation. The invariants kept
// here: after_delivery runs at least once per rotation, across crashes
// (it is recorded as pending in the same write that records the delivery,
// and cleared only once every such hook succeeded); on_failure runs at
// least once per failure the same way (a later failure of the name before
// they succeeded takes its place); a before_delete hook
// that fails keeps the old keys (the consumer check); no hook is ever told
// a secret.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/rotatord/rotatord/hooks"
	"github.com/rotatord/rotatord/state"
)

// Hook is one hook of a policy.
type Hook struct {
	Event string // hooks.AfterDelivery, hooks.BeforeDelete or hooks.OnFailure
	Label string // "exec#0", for metrics and logs
	Run   func(ctx context.Context, ev hooks.Event) error
}

// hookEvent describes a rotation to its hooks.
func hookEvent(event string, p Policy, rec *state.Record, errText string) hooks.Event {
	ev := hooks.Event{Event: event, Policy: p.Name, Name: rec.Name, Error: errText}
	if rot := rec.Rotation; rot != nil {
		ev.NewKeyID = rot.NewKeyID
		for _, id := range rot.OldKeyIDs {
			if id != rot.NewKeyID {
				ev.OldKeyIDs = append(ev.OldKeyIDs, id)
			}
		}
	}
	for _, s := range p.Sinks {
		ev.Sinks = append(ev.Sinks, s.Target(rec.Name))
	}
	if f := rec.FailureHookEvent; event == hooks.OnFailure && f != nil && rec.FailureHookPending.Equal(rec.LastFailure) {
		// The failure as recorded when it happened.
		ev.NewKeyID, ev.OldKeyIDs = f.NewKeyID, slices.Clone(f.OldKeyIDs)
		if ev.Error == "" {
			ev.Error = f.Error
		}
	}
	ev.IdempotencyKey = hooks.Key(event, p.Name, rec.Name, ev.NewKeyID)
	if event == hooks.OnFailure {
		// One key per failure: a rolled-back rotation has no new key, and
		// every failure of the name would otherwise share one key, which a
		// receiver deduplicating on it would drop. The time of the failure
		// is recorded, so a run after a crash carries the same key.
		ev.IdempotencyKey = hooks.Key(event, p.Name, rec.Name, ev.NewKeyID+"@"+rec.LastFailure.UTC().Format(time.RFC3339Nano))
	}
	return ev
}

// runHooks runs the policy's hooks of one event in order and stops at
// the first failure.
func (e *Engine) runHooks(ctx context.Context, event string, p Policy, rec *state.Record, errText string) error {
	ev := hookEvent(event, p, rec, errText)
	for _, h := range p.Hooks {
		if h.Event != event {
			continue
		}
		// Only the leader runs hooks: a replica that lost the Lease (a
		// leader paused past it, woken while another leads) runs none; the
		// hooks stay owed in the journal, for the leader to run.
		if e.fence != nil {
			if err := e.fence(); err != nil {
				return fmt.Errorf("hook %s (%s) not run: %w", h.Label, event, err)
			}
		}
		start := time.Now()
		hctx, stop := e.fencedHookCtx(ctx)
		err := h.Run(hctx, ev)
		if cause := context.Cause(hctx); err != nil && ctx.Err() == nil && cause != nil && !errors.Is(cause, context.Canceled) && !errors.Is(cause, context.DeadlineExceeded) {
			err = fmt.Errorf("%w (cancelled: %w)", err, cause)
		}
		stop()
		if e.rec != nil {
			e.rec.HookRun(p.Name, rec.Name, h.Label, event, err == nil, time.Since(start))
		}
		log := e.log.With(zap.String("policy", p.Name), zap.String("name", rec.Name), zap.String("hook", h.Label), zap.String("event", event))
		if err != nil {
			log.Warn("hook failed", zap.Error(err))
			return fmt.Errorf("hook %s (%s): %w", h.Label, event, err)
		}
		log.Info("hook ran")
	}
	return nil
}

// hookFencePoll is how often a running hook's replica asks whether it
// still leads.
const hookFencePoll = 250 * time.Millisecond

// fencedHookCtx is ctx for one hook run, cancelled (with the fence's
// error as its cause) as soon as this replica may no longer act: a hook
// runs on (an on_failure hook in the background up to its 5 minutes, a
// webhook through its retries) after the work in flight was cancelled,
// and the new leader runs the hooks the journal owes itself. stop ends
// the watch.
func (e *Engine) fencedHookCtx(ctx context.Context) (context.Context, func()) {
	if e.fence == nil {
		return ctx, func() {}
	}
	hctx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(hookFencePoll)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-hctx.Done():
				return
			case <-t.C:
				if err := e.fence(); err != nil {
					cancel(err)
					return
				}
			}
		}
	}()
	return hctx, func() { close(done); cancel(nil) }
}

func hasHook(p Policy, event string) bool {
	return slices.ContainsFunc(p.Hooks, func(h Hook) bool { return h.Event == event })
}

// runPendingAfterDelivery runs the after_delivery hooks a delivered
// rotation still owes (a crash, or a failure, since its delivery), and
// clears them once they all succeeded.
func (e *Engine) runPendingAfterDelivery(ctx context.Context, p Policy, rec *state.Record) {
	rot := rec.Rotation
	if rot == nil || !slices.Contains(rot.HooksPending, hooks.AfterDelivery) {
		return
	}
	if err := e.runHooks(ctx, hooks.AfterDelivery, p, rec, ""); err != nil {
		return // still pending: the next pass tries again
	}
	rot.HooksPending = slices.DeleteFunc(slices.Clone(rot.HooksPending), func(s string) bool { return s == hooks.AfterDelivery })
	if err := e.store.Put(*rec); err != nil {
		e.log.Error("recording the after_delivery hooks as run failed; they run again", zap.String("policy", p.Name), zap.String("name", rec.Name), zap.Error(err))
	}
}

// passHandlerKey marks the context of a pass's handler (handle), which
// holds the engine's install lock for reading, with the policy generation
// the pass runs under.
type passHandlerKey struct{}

// afterDeliveryInPass runs, from a pass's handler (which holds the
// install lock for reading since it entered: passHandlerKey), the
// after_delivery hooks the rotation of rec still owes, without that
// lock: they may run up to their timeout (30 minutes), and a reload
// waiting for them held every other name's work as well (enterHandler):
// the other policies' passes and the deleter's due deletions. Nothing
// owed, nothing is released. Their outcome is recorded either way (a
// success clears them). It returns false when a reload went through
// meanwhile: the handler then stops, and the next round acts under the
// policies, sinks and credential in force. Like outsideInstall in a
// pass, it never goes on after a reload, even one that left the policy
// as it was: the pass's next steps (a grace_period 0 deletion) have no
// check of a credential the reload changed (the deleter's
// credentialChecked).
//
// It returns the context the handler goes on with: a reload that began
// meanwhile (refused, when the handler goes on) interrupted the API
// waits of ctx, and is over; the requests after it wait out a
// Retry-After or a retry's backoff again (as outsideInstall's).
func (e *Engine) afterDeliveryInPass(ctx context.Context, p Policy, rec *state.Record) (context.Context, bool) {
	gen, inHandler := ctx.Value(passHandlerKey{}).(uint64)
	if !inHandler || rec.Rotation == nil || !slices.Contains(rec.Rotation.HooksPending, hooks.AfterDelivery) {
		e.runPendingAfterDelivery(ctx, p, rec)
		return ctx, true
	}
	e.install.RUnlock()
	e.runPendingAfterDelivery(ctx, p, rec)
	e.install.RLock() // after a reload under way: it is quick without the hooks
	return e.reloadInterrupt(ctx), e.inForce(gen)
}

// onFailureTimeout bounds the on_failure hooks of one failure, retries
// included (validate warns of a hook that cannot fit).
const onFailureTimeout = hooks.OnFailureTimeout

// failureRun is what this process knows of the on_failure hooks owed for
// one failure (at: the record's LastFailure).
type failureRun struct {
	at      time.Time
	running bool
	ok      bool
}

// oweFailureHooks marks the record's last failure as owing its on_failure
// hooks, in the write that records the failure.
func oweFailureHooks(p Policy, rec *state.Record) {
	if !hasHook(p, hooks.OnFailure) {
		return
	}
	rec.FailureHookPending = rec.LastFailure
	ev := hookEvent(hooks.OnFailure, p, &state.Record{Name: rec.Name, Rotation: rec.Rotation}, rec.LastError)
	rec.FailureHookEvent = &state.FailureEvent{NewKeyID: ev.NewKeyID, OldKeyIDs: ev.OldKeyIDs, Error: rec.LastError}
}

// onFailure runs the on_failure hooks in the background, on a copy of the
// record: a slow hook (a webhook retrying) never holds the name's lock,
// a pass or a reload. The record owes them until settleFailureHooks sees
// them succeed; a crash before that runs them again after the restart.
func (e *Engine) onFailure(p Policy, rec *state.Record, err error) {
	if !hasHook(p, hooks.OnFailure) {
		return
	}
	e.startFailureHooks(p, rec, err.Error())
}

func (e *Engine) startFailureHooks(p Policy, rec *state.Record, msg string) {
	r := rec.Clone()
	key := [2]string{p.Name, rec.Name}
	at := rec.LastFailure
	e.failureHooksMu.Lock()
	if e.failureHooks == nil {
		e.failureHooks = map[[2]string]failureRun{}
	}
	e.failureHooks[key] = failureRun{at: at, running: true}
	e.failureHooksMu.Unlock()
	e.hooksRunning.add()
	go func() {
		defer e.hooksRunning.done()
		ctx, cancel := context.WithTimeout(e.hooksCtx, onFailureTimeout)
		defer cancel()
		err := e.runHooks(ctx, hooks.OnFailure, p, &r, msg)
		e.failureHooksMu.Lock()
		if cur, ok := e.failureHooks[key]; ok && cur.at.Equal(at) {
			e.failureHooks[key] = failureRun{at: at, ok: err == nil}
		}
		e.failureHooksMu.Unlock()
		if err == nil {
			e.clearFailureHooks(p, r.Name, at)
		}
	}()
}

// clearFailureHooks records that the on_failure hooks of the failure at
// at ran, once they succeeded: left for the name's next pass, a process
// that ends first (`once` from cron) would leave them owed, and each next
// run would send them again. A later failure that took its place is left
// owed.
func (e *Engine) clearFailureHooks(p Policy, name string, at time.Time) {
	unlock := e.lock(name)
	defer unlock()
	rec, ok := e.store.Get(p.Name, name)
	if !ok || rec.FailureHookPending.IsZero() || !rec.FailureHookPending.Equal(at) {
		return
	}
	rec.FailureHookPending, rec.FailureHookEvent = time.Time{}, nil
	e.putQuietly(p, &rec)
}

// settleFailureHooks, called with the name locked, clears the on_failure
// hooks a record owes once they succeeded, and runs them again when they
// failed or when no run of this process is known (it crashed before they
// ran): at least once per failure, across crashes.
func (e *Engine) settleFailureHooks(p Policy, rec *state.Record) {
	if rec.FailureHookPending.IsZero() {
		return
	}
	if !hasHook(p, hooks.OnFailure) {
		// The hooks were removed by a reload: nothing is owed any more.
		rec.FailureHookPending, rec.FailureHookEvent = time.Time{}, nil
		e.putQuietly(p, rec)
		return
	}
	e.failureHooksMu.Lock()
	run, known := e.failureHooks[[2]string{p.Name, rec.Name}]
	e.failureHooksMu.Unlock()
	switch {
	case known && run.at.Equal(rec.FailureHookPending) && run.running:
		return
	case known && run.at.Equal(rec.FailureHookPending) && run.ok:
		rec.FailureHookPending, rec.FailureHookEvent = time.Time{}, nil
		e.putQuietly(p, rec)
	default:
		// Told what was recorded with the failure (FailureHookEvent), not
		// what the record says now.
		r := rec.Clone()
		r.LastFailure = rec.FailureHookPending
		e.startFailureHooks(p, &r, "")
	}
}

func (e *Engine) putQuietly(p Policy, rec *state.Record) {
	if err := e.store.Put(*rec); err != nil {
		e.log.Error("recording the on_failure hooks as run failed; they run again", zap.String("policy", p.Name), zap.String("name", rec.Name), zap.Error(err))
	}
}

// WaitHooks waits for the on_failure hooks running in the background, at
// most max (0: as long as they take); it reports whether they all ended.
// A stop waits a little, not the hooks' whole bound: a service manager
// kills a process that takes too long to stop.
func (e *Engine) WaitHooks(max time.Duration) bool {
	var deadline <-chan time.Time
	if max > 0 {
		t := time.NewTimer(max)
		defer t.Stop()
		deadline = t.C
	}
	for {
		select {
		case <-e.hooksRunning.none():
			if e.hooksRunning.zero() {
				return true
			}
			// Another started after the last ended: wait for it too.
		case <-deadline:
			return false
		}
	}
}

// HooksRunning reports whether on_failure hooks run in the background.
func (e *Engine) HooksRunning() bool { return !e.hooksRunning.zero() }

// StopHooks is WaitHooks for a stop: it waits for the on_failure hooks at
// most max, then cancels those still running (an exec hook's process
// group is killed, a webhook's request ends) and waits for them to
// return, so none outlives rotatord, unbounded by its timeout, beside the
// same hook run again at the next start. Their records still owe them. It
// reports whether they all ended on their own.
func (e *Engine) StopHooks(max time.Duration) bool {
	if max > 0 && e.WaitHooks(max) {
		return true
	}
	if e.hooksRunning.zero() {
		return true
	}
	e.stopHooks()
	e.WaitHooks(0) // one started from now on ends at once: its context is done
	return false
}

// runningCount counts what runs in the background, and tells when none
// does. Unlike a sync.WaitGroup it may count up from zero while someone
// waits: a pass that outlasted a stop's timeout can start an on_failure
// hook while the stop waits for the others (a WaitGroup panics then).
type runningCount struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed while n is 0; nil: never counted
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (r *runningCount) add() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == 0 {
		r.idle = make(chan struct{})
	}
	r.n++
}

func (r *runningCount) done() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n--
	if r.n == 0 {
		close(r.idle)
	}
}

// none returns a channel closed once the count is zero (at once if it is).
func (r *runningCount) none() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == 0 {
		return closedChan
	}
	return r.idle
}

func (r *runningCount) zero() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n == 0
}
