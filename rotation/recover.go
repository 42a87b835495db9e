package rotation

// Recovery of a rotation found in the intent or created phase, after a
// crash, a lost answer or a failed delivery. The invariant kept: no single
// answer ends an in-flight rotation. A rotation is resumed when a sink
// gives the new secret back, finished when every sink proves it holds the
// new key, rolled back only when every sink proves it does not, and
// otherwise left as it is (two keys live, both held) until that changes.
// It never creates a third key.

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/sinks"
	"github.com/rotatord/rotatord/state"
)

// recoverRotation resumes or rolls back a rotation found in the intent or
// created phase.
func (e *Engine) recoverRotation(ctx context.Context, p Policy, rec *state.Record, pass *passWork) error {
	start := e.now()
	rot := rec.Rotation
	log := e.log.With(zap.String("policy", p.Name), zap.String("name", rec.Name), zap.String("phase", string(rot.Phase)))

	if rot.Phase == state.PhaseIntent || rot.NewKeyID == "" {
		cred, err := e.searchOrphans(ctx, p, rec)
		switch {
		case err != nil:
			if _, ok := asWait(err); ok {
				return err
			}
			return e.fail(p, rec, start, fmt.Errorf("recover: %w", err))
		case cred != nil:
			// A sink already holds a key the intent does not know (the
			// journal was restored from an older copy): resume with it.
			log.Warn("a sink holds a key this intent created: resuming its delivery", zap.String("key_id", cred.KeyID))
			return e.resume(ctx, p, rec, *cred, start, pass)
		}
		adopted := rec.Rotation == nil
		rec.Rotation = nil
		rec.Failures, rec.LastError, rec.LastFailure = 0, "", time.Time{}
		if err := e.store.Put(*rec); err != nil {
			return e.fail(p, rec, start, err)
		}
		if !adopted {
			log.Info("interrupted rotation rolled back", zap.String("why", "no key of it is left"))
		}
		return nil
	}

	// Created: the new key is known by id. Ask the sinks first, whatever
	// the listing says: a sink may hold the new key, whose secret lives
	// only there.
	var cred *sinks.Credential
	held, notHeldBy := 0, 0
	for _, s := range p.Sinks {
		h, c := e.holds(ctx, s, rec, rot.NewKeyID)
		switch h {
		case isHeld:
			held++
			if c != nil && cred == nil {
				c.CreatedAt = rot.NewCreatedAt
				cred = c
			}
		case notHeld:
			notHeldBy++
		}
	}
	ex, err := e.keyExists(ctx, rec, rot.NewKeyID, rot.NewCreatedAt)
	switch {
	case err != nil:
		return e.fail(p, rec, start, fmt.Errorf("recover: %w", err))
	case ex == unsure:
		// Not a failure (no backoff): a create the API applies late shows
		// within the settle time, and each pass looks again until then.
		if err := e.store.Put(*rec); err != nil {
			return e.fail(p, rec, start, err)
		}
		log.Info("the new key of the interrupted rotation is not visible yet; waiting for the API to settle", zap.String("key_id", rot.NewKeyID))
		settle := e.settleTime()
		return &waitErr{reason: ReasonNewKeySettle, due: later(rot.NewCreatedAt.Add(settle), rot.NewMissingSince.Add(settle))}
	case ex == gone:
		// Someone deleted the new key. If a sink holds it, that sink
		// serves a dead key: rotate again at once.
		log.Warn("the new key of the interrupted rotation no longer exists", zap.String("key_id", rot.NewKeyID))
		rec.Rotation = nil
		rec.Failures, rec.LastError, rec.LastFailure = 0, "", time.Time{} // a new situation
		if held+notHeldBy < len(p.Sinks) || held > 0 {
			rec.CurrentKeyID = ""
		}
		if err := e.store.Put(*rec); err != nil {
			return e.fail(p, rec, start, err)
		}
		return nil
	case cred != nil:
		log.Info("resuming delivery from a sink that holds the new key", zap.String("key_id", rot.NewKeyID))
		return e.resume(ctx, p, rec, *cred, start, pass)
	case held == len(p.Sinks):
		// Every sink proves it holds the new key: the delivery is done.
		log.Info("every sink holds the new key: finishing the rotation", zap.String("key_id", rot.NewKeyID))
		return e.markDelivered(ctx, p, rec, start, nil, pass)
	case notHeldBy == len(p.Sinks) && len(removedSinks(rot, p.Sinks, rec.Name)) > 0:
		// No sink of the policy holds it, but the rotation was to write
		// more sinks of a kind than the policy has now (one removed while
		// rotatord was stopped): that one may hold it, and nothing can
		// read it now.
		return e.fail(p, rec, start, fmt.Errorf("recover: the new key %s may be in %s, which the policy no longer has: not rolling back; put the sink back in the policy file, or check it and delete the key by hand",
			rot.NewKeyID, strings.Join(removedSinks(rot, p.Sinks, rec.Name), ", ")))
	case notHeldBy == len(p.Sinks):
		// No sink holds it: nobody can use it. Roll it back, once no
		// write of it that an earlier process sent (a leader that died or
		// lost the Lease before the answer came) can still land.
		if err := e.fenceSinks(ctx, p, rec, rot.NewKeyID); err != nil {
			return e.fail(p, rec, start, fmt.Errorf("recover: not rolling back new key %s yet: %w", rot.NewKeyID, err))
		}
		if err := e.dropNewKey(ctx, p, rec, true); err != nil {
			if _, waiting := asWait(err); waiting {
				// Not a failure: a look after the settle time decides.
				if perr := e.store.Put(*rec); perr != nil {
					return e.fail(p, rec, start, perr)
				}
				return err
			}
			return e.fail(p, rec, start, fmt.Errorf("recover: roll back: %w", err))
		}
		rec.Failures, rec.LastError = 0, ""
		if err := e.store.Put(*rec); err != nil {
			return e.fail(p, rec, start, err)
		}
		log.Info("interrupted rotation rolled back", zap.String("why", "its new key reached no sink"))
		return nil
	}
	// A sink that can be read back holds a live key this rotation does not
	// know: the journal is older than what happened (restored from a
	// backup). The sinks decide, as when several keys are live.
	if adopted, err := e.adoptNewer(ctx, p, rec, start, pass); adopted || err != nil {
		if err != nil {
			return e.fail(p, rec, start, fmt.Errorf("recover: %w", err))
		}
		return nil
	}

	// Some sink holds, or may hold, the new key and none can give its
	// secret back: the delivery cannot be finished, and deleting either
	// key could cut a consumer off. A new rotation would make a third key.
	// Wait: a sink that becomes readable, or an operator, settles it.
	return e.fail(p, rec, start, fmt.Errorf(
		"recover: new key %s may be held by a sink that cannot give its secret back, and not every sink holds it: keeping both keys; make the sinks readable or finish by hand",
		rot.NewKeyID))
}

// resume records cred as the rotation's new key if need be and delivers it.
func (e *Engine) resume(ctx context.Context, p Policy, rec *state.Record, cred sinks.Credential, start time.Time, pass *passWork) error {
	rot := rec.Rotation
	if rot.NewKeyID != cred.KeyID {
		rot.Phase = state.PhaseCreated
		rot.NewKeyID = cred.KeyID
		rot.NewCreatedAt = start.UTC()
		cred.CreatedAt = rot.NewCreatedAt
		markNew(rot, p.Sinks, cred)
		if err := e.store.Put(*rec); err != nil {
			return e.fail(p, rec, start, err)
		}
	}
	return e.deliverAndConfirm(ctx, p, rec, cred, start, false, nil, pass)
}

// adoptNewer looks for a sink that can be read back and holds a live key
// of the name that rotation does not know. If there is one, the rotation
// is dropped and that key adopted: written to every sink, the other keys
// of the name retired after the grace period.
func (e *Engine) adoptNewer(ctx context.Context, p Policy, rec *state.Record, start time.Time, pass *passWork) (bool, error) {
	rot := rec.Rotation
	newer := false
	for _, i := range deliveryOrder(p.Sinks) {
		h, err := p.Sinks[i].Read(ctx, rec.Name)
		if err == nil && h.KeyID != "" && !h.Secret.IsZero() && h.KeyID != rot.NewKeyID && !slices.Contains(rot.KnownKeyIDs, h.KeyID) {
			newer = true
			break
		}
	}
	if !newer {
		return false, nil
	}
	keys, err := e.client().ListKeys(ctx)
	if err != nil {
		return false, fmt.Errorf("list keys: %w", err)
	}
	var live []apiclient.Key
	for _, k := range keys {
		if gone := rec.Deleted.Has(k.ID); k.Name == rec.Name && !gone && (sameRoleID(k.RoleID, rec.RoleID) || rec.RoleID == "") {
			live = append(live, k)
		}
	}
	saved := rec.Rotation
	rec.Rotation = nil
	if !e.adoptFromSinks(ctx, p, rec, live, start, pass) {
		rec.Rotation = saved
		return false, nil
	}
	rec.Failures, rec.LastError, rec.LastFailure = 0, "", time.Time{}
	if err := e.store.Put(*rec); err != nil {
		return false, err
	}
	e.deletionScheduled(rec.Rotation.DeleteAfter)
	return true, nil
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// removedSinks returns the sink ids rot recorded that none of ss renders
// for name, sorted, when there are more of them, for some kind of sink,
// than sinks of that kind in ss that rot did not record: a sink removed
// since the rotation started. As many new ids as old ones are taken as
// the same sinks under new ids (an upgrade that names targets otherwise,
// a Kubernetes sink whose API server moved): those are read like the
// others.
func removedSinks(rot *state.Rotation, ss []sinks.Sink, name string) []string {
	current := map[string]bool{}
	added := map[string]int{} // by kind
	for _, s := range ss {
		sid := sinkID(s, name)
		current[sid] = true
		if _, ok := rot.Sinks[sid]; !ok {
			added[s.Kind()]++
		}
	}
	gone := map[string][]string{} // by kind
	for sid := range rot.Sinks {
		if !current[sid] {
			kind, _, _ := strings.Cut(sid, ":")
			gone[kind] = append(gone[kind], sid)
		}
	}
	var out []string
	for kind, ids := range gone {
		if len(ids) > added[kind] {
			out = append(out, ids...)
		}
	}
	slices.Sort(out)
	return out
}

// fenceSinks fences each sink of p that supports it (sinks.Fencer) for
// rec's name, then asks each of them again whether it holds key id: a
// write of id sent earlier and still on its way (held by a slow admission
// webhook, queued by the API server, delayed by a proxy; sent by a leader
// that died or lost the Lease since, which cannot fence it any more) fails
// once the sink is fenced, or has landed and is seen now. It fails when a
// sink cannot be fenced now, or holds (or may hold) id after all: the
// key must not be rolled back then.
func (e *Engine) fenceSinks(ctx context.Context, p Policy, rec *state.Record, id string) error {
	var fenced []int
	for i, s := range p.Sinks {
		f, ok := s.(sinks.Fencer)
		if !ok {
			continue
		}
		if e.fence != nil {
			if err := e.fence(); err != nil {
				return fmt.Errorf("not fencing %s: %w", s.Target(rec.Name), err)
			}
		}
		if err := f.Fence(ctx, rec.Name); err != nil {
			return fmt.Errorf("sink %s: fence against a write still on its way: %w", sinkLabel(i, s), err)
		}
		fenced = append(fenced, i)
	}
	for _, i := range fenced {
		if h, _ := e.holds(ctx, p.Sinks[i], rec, id); h != notHeld {
			return fmt.Errorf("sink %s changed while it was fenced (it may hold key %s now): deciding again on the next pass", sinkLabel(i, p.Sinks[i]), id)
		}
	}
	return nil
}
