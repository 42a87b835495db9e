package rotation

// A policy's hooks, at three points of a rotation. The invariants kept
// here: after_delivery runs at least once per rotation, across crashes
// (it is recorded as pending in the same write that records the delivery,
// and cleared only once every such hook succeeded); a before_delete hook
// that fails keeps the old keys (the consumer check); no hook is ever told
// a secret.

import (
	"context"
	"fmt"
	"slices"
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
	ev.IdempotencyKey = hooks.Key(event, p.Name, rec.Name, ev.NewKeyID)
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
		start := time.Now()
		err := h.Run(ctx, ev)
		if e.rec != nil {
			e.rec.HookRun(p.Name, h.Label, event, err == nil, time.Since(start))
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

// onFailureTimeout bounds the on_failure hooks of one failure, retries
// included.
const onFailureTimeout = 5 * time.Minute

// onFailure runs the on_failure hooks in the background, on a copy of the
// record: a slow hook (a webhook retrying) never holds the name's lock,
// a pass or a reload. Best effort: not retried across crashes.
func (e *Engine) onFailure(p Policy, rec *state.Record, err error) {
	if !hasHook(p, hooks.OnFailure) {
		return
	}
	r := rec.Clone()
	msg := err.Error()
	e.hooksRunning.Add(1)
	go func() {
		defer e.hooksRunning.Done()
		ctx, cancel := context.WithTimeout(context.Background(), onFailureTimeout)
		defer cancel()
		_ = e.runHooks(ctx, hooks.OnFailure, p, &r, msg)
	}()
}

// WaitHooks waits for the on_failure hooks running in the background, at
// most max (0: as long as they take); it reports whether they all ended.
// A stop waits a little, not the hooks' whole bound: a service manager
// kills a process that takes too long to stop.
func (e *Engine) WaitHooks(max time.Duration) bool {
	done := make(chan struct{})
	go func() { e.hooksRunning.Wait(); close(done) }()
	if max <= 0 {
		<-done
		return true
	}
	t := time.NewTimer(max)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}
