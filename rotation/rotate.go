package rotation

// A rotation's forward steps: probe, intent, create, created, deliver,
// confirm. Each is durable before the next starts. The invariant kept
// here: a key is created only with an intent on record (so a lost answer
// leads back to it), and its id is on record before its secret goes
// anywhere (so a crash never leaves a key nobody knows about).

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/hooks"
	"github.com/rotatord/rotatord/sinks"
	"github.com/rotatord/rotatord/state"
)

// rotate carries a new rotation from intent to delivered (and on to
// deletion when the grace period is zero).
func (e *Engine) rotate(ctx context.Context, j job, rec *state.Record, live []apiclient.Key, pass *passWork) error {
	p := *j.policy
	start := e.now()
	log := e.log.With(zap.String("policy", p.Name), zap.String("name", rec.Name))

	// Probe first: a sink that cannot be written costs no key. A sink
	// found down here is a delivery that failed, and counts as one.
	for i, s := range p.Sinks {
		if err := s.Probe(ctx, rec.Name); err != nil {
			e.sinkWrite(p, sinkLabel(i, s), false)
			return e.fail(p, rec, start, fmt.Errorf("sink %s: %w", sinkLabel(i, s), err))
		}
	}
	if rec.RoleID == "" {
		return e.fail(p, rec, start, errors.New("no role id known for the key name"))
	}

	// Intent, with every key of the name that exists now.
	old := make([]string, 0, len(live))
	for _, k := range live {
		if sameRoleID(k.RoleID, rec.RoleID) || k.RoleID == "" {
			old = append(old, k.ID) // a key of another role is another credential
		}
	}
	known := make([]string, 0, len(j.all))
	for _, k := range j.all {
		known = append(known, k.ID)
	}
	marks, err := fingerprintsBefore(ctx, p.Sinks, rec.Name)
	if err != nil {
		return e.fail(p, rec, start, err)
	}
	rec.Rotation = &state.Rotation{
		Phase: state.PhaseIntent, StartedAt: start, OldKeyIDs: old, KnownKeyIDs: known, RoleID: rec.RoleID,
		Sinks: marks,
	}
	if err := e.store.Put(*rec); err != nil {
		rec.Rotation = nil
		return e.fail(p, rec, start, err)
	}
	log.Info("rotation started", zap.String("step", "intent"), zap.Strings("old_key_ids", old))

	// Create the replacement with the same name and role.
	// Before the client sends the create again after an answer (a 429 the
	// API may have acted on), the journal says so: a process killed during
	// the wait, or before the created step, leaves the retried search on
	// record, not only the intent, whose search ends at the first key.
	retriedRecorded := false
	cctx := apiclient.WithAnsweredRetryHook(ctx, func() error {
		if retriedRecorded {
			return nil
		}
		prev := rec.RetriedCreate
		if prev != nil {
			c := *prev // keepSearchingFailedRetry changes it in place
			rec.RetriedCreate = &c
		}
		keepSearchingFailedRetry(rec)
		if err := e.store.Put(*rec); err != nil {
			rec.RetriedCreate = prev
			return fmt.Errorf("record the retried create: %w", err)
		}
		retriedRecorded = true
		return nil
	})
	created, err := e.client().CreateKey(cctx, rec.Name, rec.RoleID)
	if err != nil {
		if created.EarlierAttemptsAnswered > 0 {
			keepSearchingFailedRetry(rec)
		}
		// Whatever the error says, the key may exist now or appear a while
		// later, without its secret (the API client marks a lost answer
		// ErrAmbiguousCreate; a refusal is taken with the same care). The
		// intent stays on record and the orphan search runs now and on
		// later passes until the API has settled.
		msg := "create failed: looking for a key created without its secret"
		if errors.Is(err, apiclient.ErrAmbiguousCreate) {
			msg = "create outcome unknown: looking for a key created without its secret"
		}
		log.Warn(msg, zap.Error(err))
		cred, serr := e.searchOrphans(ctx, p, rec)
		if _, waiting := asWait(serr); serr != nil && !waiting {
			err = fmt.Errorf("%w; cleanup: %v", err, serr)
		}
		if serr == nil && cred == nil {
			rec.Rotation = nil // settled: no key of the create is left
		}
		return e.fail(p, rec, start, fmt.Errorf("create: %w", err))
	}
	if err := e.checkCreated(rec, created.Key, known); err != nil {
		if created.EarlierAttemptsAnswered > 0 {
			keepSearchingFailedRetry(rec)
		}
		// An answer that cannot be about a key this create made: an API
		// that mixes up answers, or lies. Its id is not deleted (it may be
		// anyone's key) and its secret goes nowhere; the key the create
		// may have made is looked for like the key of a lost answer.
		log.Error("create answer refused: looking for a key created without its secret", zap.Error(err))
		cred, serr := e.searchOrphans(ctx, p, rec)
		if _, waiting := asWait(serr); serr != nil && !waiting {
			err = fmt.Errorf("%w; cleanup: %v", err, serr)
		}
		if serr == nil && cred == nil {
			rec.Rotation = nil
		}
		return e.fail(p, rec, start, fmt.Errorf("create: %w", err))
	}
	createdAt := e.now().UTC()
	log = log.With(zap.String("key_id", created.ID))
	cred := sinks.Credential{Name: rec.Name, KeyID: created.ID, RoleID: created.RoleID, Secret: created.Secret, CreatedAt: createdAt}
	if cred.RoleID == "" {
		cred.RoleID = rec.RoleID
	}

	// Created: record the new key, and the fingerprint of what each sink
	// that cannot be read back will hold, before anything else.
	rec.Rotation.Phase = state.PhaseCreated
	rec.Rotation.NewKeyID = created.ID
	rec.Rotation.NewCreatedAt = createdAt
	markNew(rec.Rotation, p.Sinks, cred)
	if created.EarlierAttemptsAnswered > 0 {
		// The API answered earlier attempts of this create with a 429 and
		// the client sent it again: a server or proxy that acted before
		// answering so made a key each time, whose secret reached nobody.
		// The intent is kept, with this record, so that its search finds
		// them, after a crash too.
		rec.RetriedCreate = retriedIntent(rec.Rotation)
		log.Warn("the create was answered with a 429 before this answer and sent again: looking for a key an earlier attempt may have made",
			zap.Int("answered_attempts", created.EarlierAttemptsAnswered))
	}
	if err := e.store.Put(*rec); err != nil {
		// Not recorded: nobody but us will ever know this key. Drop it now;
		// if that fails too, or cannot be proven yet (a create the API
		// applies late), the recorded intent leads to it next pass.
		if derr := e.dropNewKey(ctx, p, rec, false); derr != nil {
			err = fmt.Errorf("%w; rollback: %v", err, derr)
		}
		return e.fail(p, rec, start, err)
	}
	log.Info("replacement created", zap.String("step", "created"))
	if p.Self != nil && (created.Name == "" || created.RoleID == "") {
		if err := e.proveOwnCreated(ctx, p, rec, cred); err != nil {
			if derr := e.dropNewKey(ctx, p, rec, false); derr != nil {
				if _, waiting := asWait(derr); waiting {
					derr = fmt.Errorf("new key %s not visible yet: it is deleted once the API shows it", cred.KeyID)
				}
				return e.fail(p, rec, start, fmt.Errorf("%w; rollback: %v", err, derr))
			}
			log.Warn("rolled back: the API does not show the new key as rotatord's own key; old key kept", zap.Error(err))
			return e.fail(p, rec, start, err)
		}
	}
	err = e.deliverAndConfirm(ctx, p, rec, cred, start, true, listedByID(j.all), pass)
	if _, waiting := asWait(err); err == nil || waiting {
		// Delivered first: the consumer's new key does not wait for the
		// search. A search not settled goes on at the next passes.
		e.searchRetried(ctx, p, rec, nil)
	}
	return err
}

// retriedIntent is the part of rot, a rotation whose create was retried
// after an answer, that the search for the keys of the earlier attempts
// needs (state.Record.RetriedCreate).
func retriedIntent(rot *state.Rotation) *state.Rotation {
	return &state.Rotation{
		Phase: state.PhaseIntent, StartedAt: rot.StartedAt, RoleID: rot.RoleID, NewKeyID: rot.NewKeyID,
		OldKeyIDs: slices.Clone(rot.OldKeyIDs), KnownKeyIDs: slices.Clone(rot.KnownKeyIDs), SearchFrom: rot.SearchFrom,
	}
}

// keepSearchingFailedRetry records, for a create that failed after attempts
// the API answered (and retried), that its intent's search goes on until
// it settles: each answered attempt may have made a key, and the intent's
// own search ends at the first key it finds and deletes ("one create makes
// one key"), leaving a key a lagging listing did not show yet alive with
// nobody knowing its secret. It is written with the failure. A search of
// an earlier retried create still open is kept (the keys of this create
// are unknown to its intent too) and lasts the settle time from this one.
func keepSearchingFailedRetry(rec *state.Record) {
	if rc := rec.RetriedCreate; rc != nil {
		rc.StartedAt, rc.SearchFrom = rec.Rotation.StartedAt, time.Time{}
		return
	}
	rec.RetriedCreate = retriedIntent(rec.Rotation)
}

// searchRetried looks for the keys that the earlier attempts of a retried
// create (rec.RetriedCreate) may have made, and deletes those no sink holds,
// as a lost create's search does: any key of the name and role the intent
// did not know, other than the new key, the current key and rotatord's own.
// Their secrets reached nobody. The search is recorded as over once it has
// settled; until then the next passes search again. It waits while another
// rotation of the name is in flight (the keys that one makes are not the
// intent's to judge). It reports whether it changed rec (and wrote it).
//
// listing, when not nil and taken after the intent (a pass's, for a
// create answered in an earlier pass), is searched instead of a listing
// of its own.
func (e *Engine) searchRetried(ctx context.Context, p Policy, rec *state.Record, listing *searchListing) bool {
	rc := rec.RetriedCreate
	if rc == nil {
		return false
	}
	if rot := rec.Rotation; rot != nil && (rot.NewKeyID != rc.NewKeyID || (rc.NewKeyID == "" && !rot.StartedAt.Equal(rc.StartedAt))) {
		// Another rotation's (a failed create's search has no new key:
		// its own intent is told by its start).
		return false
	}
	log := e.log.With(zap.String("policy", p.Name), zap.String("name", rec.Name), zap.String("new_key_id", rc.NewKeyID))
	before := len(rec.Deleted)
	if listing != nil && !listing.listedAt.After(rc.StartedAt) {
		listing = nil
	}
	_, err := e.searchOrphansOf(ctx, p, rec, rc, true, listing)
	if err == nil {
		rec.RetriedCreate = nil
		if perr := e.store.Put(*rec); perr != nil {
			log.Warn("the search for keys of a retried create's earlier attempts settled, but recording it failed: searching again at the next pass", zap.Error(perr))
			return true
		}
		log.Info("the search for keys of a retried create's earlier attempts is over")
		return true
	}
	if _, waiting := asWait(err); !waiting {
		log.Warn("the search for keys of a retried create's earlier attempts failed: searching again at the next pass", zap.Error(err))
	}
	return len(rec.Deleted) != before
}

// checkCreated refuses a create answer that cannot be about a new key of
// rec's name and role: no id, the id of a key listed before the create
// (known) or of rotatord's own key, or another name or role. A name or
// role the answer leaves out (every field of the API's schema is
// optional) is the request's: the key is a new one, and before any sink
// gets it the API is asked for it (awaitShown checks its name and role;
// for rotatord's own key, proveOwnCreated).
func (e *Engine) checkCreated(rec *state.Record, k apiclient.Key, known []string) error {
	switch {
	case k.ID == "":
		return errors.New("the API's answer has no key id")
	case k.ID == e.own() || slices.Contains(known, k.ID) || rec.Deleted.Has(k.ID):
		return fmt.Errorf("the API's answer names key %s, which existed before the create", k.ID)
	case k.Name != "" && k.Name != rec.Name:
		return fmt.Errorf("the API's answer names key %s of name %q, not %q", k.ID, k.Name, rec.Name)
	case k.RoleID != "" && !sameRoleID(k.RoleID, rec.RoleID):
		return fmt.Errorf("the API's answer names key %s of role %q, not %s", k.ID, k.RoleID, rec.RoleID)
	}
	return nil
}

// proveOwnCreated asks the API for the new key of rotatord's own key whose
// create answer left its name or role out, with the key's own signature
// once it signs: its store gets only a key the API shows with the own
// key's name and role.
func (e *Engine) proveOwnCreated(ctx context.Context, p Policy, rec *state.Record, cred sinks.Credential) error {
	if err := e.proveSigns(ctx, p, cred); err != nil {
		return err
	}
	k, err := e.keyAs(ctx, p, cred)
	if err != nil {
		return fmt.Errorf("look up new key %s: %w", cred.KeyID, err)
	}
	if k.Name != rec.Name || !sameRoleID(k.RoleID, rec.RoleID) {
		return fmt.Errorf("the API shows new key %s with name %q and role %q, not those of rotatord's own key", cred.KeyID, k.Name, k.RoleID)
	}
	return nil
}

// deliverAndConfirm delivers and confirms, and records the delivered phase.
// Sinks are written in order, those that can be read back first, and the
// delivery stops at the first failure: every sink before it holds the new
// key, and the first of them gives its secret back to resume from. fresh
// says the secret was created by this process a moment ago, so no sink
// this delivery has not written can hold it.
func (e *Engine) deliverAndConfirm(ctx context.Context, p Policy, rec *state.Record, cred sinks.Credential, start time.Time, fresh bool, listed map[string]apiclient.Key, pass *passWork) error {
	log := e.log.With(zap.String("policy", p.Name), zap.String("name", rec.Name), zap.String("key_id", cred.KeyID))

	// A sink added by a reload since the intent is recorded before it is
	// written: the evidence of what sinks hold relies on it.
	if recordSinks(rec.Rotation, p.Sinks, rec.Name) {
		markNew(rec.Rotation, p.Sinks, cred)
		if err := e.store.Put(*rec); err != nil {
			return e.fail(p, rec, start, err)
		}
	}

	// rotatord's own key goes to its store only once it signs requests.
	if p.Self != nil && fresh {
		if err := e.proveSigns(ctx, p, cred); err != nil {
			// The store still holds the old key: roll the new one back.
			if derr := e.dropNewKey(ctx, p, rec, false); derr != nil {
				if _, waiting := asWait(derr); waiting {
					derr = fmt.Errorf("new key %s not visible yet: it is deleted once the API shows it", cred.KeyID)
				}
				return e.fail(p, rec, start, fmt.Errorf("%w; rollback: %v", err, derr))
			}
			log.Warn("rolled back: the new key of rotatord's own key could not sign; old key kept", zap.Error(err))
			return e.fail(p, rec, start, err)
		}
	}

	// Confirm, for a consumer's key, before any sink gets it: a create the
	// API applies late answers with the key and its secret at once, but
	// the key signs nothing until the API shows it. Delivered before, it
	// would replace a working key in the sinks with a dead one for that
	// while. (rotatord's own key is proven by signing with it, above, and
	// confirmed with its new signature after the switch, below.)
	if p.Self == nil {
		if settled, err := e.awaitShown(ctx, rec, cred.KeyID, fresh); err != nil {
			if !fresh {
				// Some sink holds it already: keep it, resume later.
				return e.fail(p, rec, start, fmt.Errorf("confirm new key: %w", err))
			}
			if !settled {
				// The wait ended before the API had the settle time, as
				// this process's own clock measures it (the wall clock
				// may have been stepped forward meanwhile): the settle
				// time runs again from the next look that misses the key.
				rec.Rotation.NewMissingSince = time.Time{}
			}
			// No sink got it: nobody can use it. Roll it back (a key the
			// API does not show yet stays recorded, and is deleted once it
			// shows).
			if derr := e.dropNewKeyKeeping(ctx, p, rec, false, !settled); derr != nil {
				if _, waiting := asWait(derr); waiting {
					derr = fmt.Errorf("new key %s not visible yet: it is deleted once the API shows it", cred.KeyID)
				}
				return e.fail(p, rec, start, fmt.Errorf("confirm new key: %w; rollback: %v", err, derr))
			}
			log.Warn("rolled back: the API does not show the new key; new key deleted, old key kept", zap.Error(err))
			return e.fail(p, rec, start, fmt.Errorf("confirm new key: %w", err))
		}
	}

	// Deliver: every sink, written and read back.
	for n, i := range deliveryOrder(p.Sinks) {
		s := p.Sinks[i]
		label := sinkLabel(i, s)
		err := e.writeTo(ctx, p, i, cred)
		if err == nil {
			log.Info("delivered", zap.String("step", "delivered"), zap.String("sink", label), zap.String("target", s.Target(rec.Name)))
			continue
		}
		log.Error("sink write failed", zap.String("sink", label), zap.String("target", s.Target(rec.Name)), zap.Error(err))
		// The first sink failed before the secret was sent, and the secret
		// is this process's own of a moment ago: no sink can hold it, even
		// one that cannot be read now (Vault down).
		sentNothing := n == 0 && fresh && sinks.IsNothingSent(err)
		err = fmt.Errorf("sink %s: %w", label, err)
		if sentNothing {
			if derr := e.dropNewKey(ctx, p, rec, false); derr != nil {
				return e.fail(p, rec, start, fmt.Errorf("%w; rollback: %v", err, derr))
			}
			log.Warn("rolled back: the write failed before sending the secret; new key deleted, old key kept")
			return e.fail(p, rec, start, err)
		}
		if h, _ := e.holds(ctx, s, rec, cred.KeyID); n == 0 && h == notHeld {
			// No sink holds the new key: nobody can use it. Roll it back.
			if derr := e.dropNewKey(ctx, p, rec, !fresh); derr != nil {
				if _, waiting := asWait(derr); waiting {
					log.Warn("rollback not settled: the API does not show the new key yet; deleting it once it does", zap.String("why", string(ReasonRollbackSettle)))
					return e.fail(p, rec, start, fmt.Errorf("%w; rollback: new key %s not visible yet: it is deleted once the API shows it", err, cred.KeyID))
				}
				return e.fail(p, rec, start, fmt.Errorf("%w; rollback: %v", err, derr))
			}
			log.Warn("rolled back: new key deleted, old key kept")
			return e.fail(p, rec, start, err)
		}
		// A sink holds the new key: deleting it would cut that consumer
		// off. Keep it and finish the delivery on a later pass.
		return e.fail(p, rec, start, err)
	}

	// rotatord's own key: the store holds the new one now, so requests
	// sign with it from here on, and the confirmation below is the signed
	// request that proves it works.
	revert := func() {}
	if p.Self != nil {
		r, err := e.useNewSelf(p, cred)
		if err != nil {
			return e.fail(p, rec, start, fmt.Errorf("switch to the new key: %w", err))
		}
		revert = r
		log.Info("signing with the new key", zap.String("step", "switched"))
	}

	// Confirm rotatord's own key: the API knows it, asked with its
	// signature. (A consumer's key was confirmed before its delivery.)
	if p.Self != nil {
		ex, err := e.keyExists(ctx, rec, cred.KeyID, rec.Rotation.NewCreatedAt)
		switch {
		case err != nil:
			revert()
			return e.fail(p, rec, start, fmt.Errorf("confirm new key: %w", err))
		case ex != exists:
			revert()
			return e.fail(p, rec, start, fmt.Errorf("confirm new key: the API does not show key %s", cred.KeyID))
		}
	}
	return e.markDelivered(ctx, p, rec, start, listed, pass)
}

// awaitShown waits until the API shows key id (a GET, or a listing when
// the GET answers not found), for at most the settle time from the key's
// creation: a create the API applies late, or a GET and a listing that
// lag, show the key within it. It fails at once on any other error, when
// the API's answers show the key gone, or when the wait ends. settled
// reports whether the API had the settle time, for a key this process
// created a moment ago (fresh) as the process's own monotonic clock
// measures it: a wall clock stepped forward during the wait ends it early,
// and the caller must not take the key as never made.
func (e *Engine) awaitShown(ctx context.Context, rec *state.Record, id string, fresh bool) (settled bool, err error) {
	settle := e.settleTime()
	deadline := rec.Rotation.NewCreatedAt.Add(settle)
	// Bounded in attempts and in real time too, whatever the engine's
	// clock says (a clock that does not move must not make it spin).
	attempts, began := max(3, int(settle/(2*time.Second))+3), time.Now()
	hadSettle := func() bool { return !fresh || time.Since(began) >= settle }
	wait := 200 * time.Millisecond
	for n := 1; ; n++ {
		ex, err := e.keyExists(ctx, rec, id, rec.Rotation.NewCreatedAt)
		switch {
		case err != nil:
			return hadSettle(), err
		case ex == exists:
			return true, nil
		case ex == gone:
			return hadSettle(), fmt.Errorf("the API does not show key %s", id)
		}
		if !e.now().Before(deadline) || n >= attempts || time.Since(began) > settle {
			return hadSettle(), fmt.Errorf("the API does not show key %s yet", id)
		}
		if err := e.sleep(ctx, wait); err != nil {
			return hadSettle(), err
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// sleep waits d, or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// markDelivered records that every sink holds the new key and the API
// confirmed it: the grace period starts. listed, when not nil, is the
// pass's listing of the name, against which old keys are checked before
// an immediate deletion.
func (e *Engine) markDelivered(ctx context.Context, p Policy, rec *state.Record, start time.Time, listed map[string]apiclient.Key, pass *passWork) error {
	now := e.now()
	rot := rec.Rotation
	rot.Phase = state.PhaseDelivered
	rot.DeliveredAt = now
	rot.DeleteAfter = now.Add(p.GracePeriod)
	if rot.Sinks == nil {
		rot.Sinks = map[string]state.SinkMark{}
	}
	for _, s := range p.Sinks {
		sid := sinkID(s, rec.Name)
		m := rot.Sinks[sid]
		m.Delivered = true
		rot.Sinks[sid] = m
		rec.Delivered.Set(sid, state.Delivery{KeyID: rot.NewKeyID, Fingerprint: m.New})
	}
	if hasHook(p, hooks.AfterDelivery) {
		rot.HooksPending = append(rot.HooksPending, hooks.AfterDelivery)
	}
	rec.CurrentKeyID = rot.NewKeyID
	rec.CurrentSince = rot.NewCreatedAt
	if rec.CurrentSince.IsZero() {
		rec.CurrentSince = now
	}
	rec.CreatedByUs = true
	rec.Failures, rec.LastError, rec.LastFailure = 0, "", time.Time{}
	// The new key is known from its creation: noted here, the next listing
	// that shows it changes nothing, and that pass rewrites no record.
	if ok := rec.FirstSeen.Has(rot.NewKeyID); !ok {
		rec.FirstSeen.Set(rot.NewKeyID, rec.CurrentSince)
	}
	if err := e.store.Put(*rec); err != nil {
		return e.fail(p, rec, start, err)
	}
	e.noteConfirmed(p, rec.Name, rot.DeleteAfter)
	e.log.Info("rotation delivered", zap.String("policy", p.Name), zap.String("name", rec.Name), zap.String("key_id", rot.NewKeyID),
		zap.String("step", "confirmed"), zap.Time("delete_old_after", rot.DeleteAfter))
	e.rotationDone(p, true, now.Sub(start))
	ctx, inForce := e.afterDeliveryInPass(ctx, p, rec)
	if !inForce {
		// Reloaded while the hooks ran: the rotation is delivered, and
		// the deleter takes the old keys under the policies now in force.
		return nil
	}
	if p.GracePeriod <= 0 && (ignoringWindows(ctx) || p.Windows.Contains(e.now())) {
		// In a window (or told to ignore them) the old keys go at once;
		// outside (a rotation finished as a window closed, or recovered
		// outside one) the deleter waits for the next window. The old
		// keys are checked against this pass's listing, made moments ago,
		// not looked up again one by one. The new key was confirmed
		// before the after_delivery hooks, which may run for up to 30
		// minutes: with such hooks it is looked up again, as one deleted
		// meanwhile would otherwise take the old keys with it.
		return e.deleteOld(ctx, p, rec, !hasHook(p, hooks.AfterDelivery), listed, pass)
	}
	return nil
}

// dropNewKey deletes the new key of rec's rotation, which no sink holds,
// and clears the rotation. The key is deleted by its recorded id whatever
// the policy matches now: rotatord made it, and nobody else knows it.
// check asks every sink first; without it the caller knows no sink holds it.
func (e *Engine) dropNewKey(ctx context.Context, p Policy, rec *state.Record, check bool) error {
	return e.dropNewKeyKeeping(ctx, p, rec, check, false)
}

// dropNewKeyKeeping is dropNewKey; keepUnseen keeps the rotation on record
// when the API does not show the key, whatever the time since its
// creation (the caller knows the API has not had the settle time).
func (e *Engine) dropNewKeyKeeping(ctx context.Context, p Policy, rec *state.Record, check, keepUnseen bool) error {
	rot := rec.Rotation
	if rot.NewKeyID == e.own() {
		return fmt.Errorf("not deleting key %s: it is the key rotatord authenticates with", rot.NewKeyID)
	}
	// The id came from a create's answer: the API says whose key it is
	// (an answer that lied about it must not aim a deletion at another
	// name's key).
	unseen := false
	k, err := getKey(ctx, e.client(), rot.NewKeyID)
	switch {
	case errors.Is(err, apiclient.ErrNotFound):
		unseen = true
		k = apiclient.Key{ID: rot.NewKeyID, Name: rec.Name, RoleID: cmp.Or(rot.RoleID, rec.RoleID)}
	case err != nil:
		return fmt.Errorf("look up new key %s: %w", rot.NewKeyID, err)
	case k.Name != rec.Name || (rot.RoleID != "" && !sameRoleID(k.RoleID, rot.RoleID)):
		return fmt.Errorf("not deleting key %s: the API shows it with name %q and role %q, not the rotation's", rot.NewKeyID, k.Name, k.RoleID)
	}
	if other := e.managedElsewhere(p, k, nil); other != "" {
		return fmt.Errorf("not deleting new key: %w", e.refuseManagedElsewhere(p, rec, rot.NewKeyID, other))
	}
	if check {
		if err := e.blocksDeletion(ctx, p, rec, rot.NewKeyID); err != nil {
			return err
		}
	}
	if err := e.client().DeleteKey(ctx, rot.NewKeyID); err != nil {
		return fmt.Errorf("delete new key %s: %w", rot.NewKeyID, err)
	}
	if due := rot.NewCreatedAt.Add(e.settleTime()); unseen && (keepUnseen || e.now().Before(due)) {
		// The API does not show a key made moments ago: a create it
		// applies late answers 404 to GET and 403 "not in organization"
		// to DELETE (which the client takes as already gone) until it
		// applies, and then lives on. The rotation stays on record, so
		// no new create starts for the name; its recovery deletes the
		// key once the API shows it, or clears the rotation once a look
		// after the settle time finds it gone (keyExists).
		return &waitErr{reason: ReasonRollbackSettle, due: due}
	}
	e.orphanDeleted(p)
	noteDeleted(rec, rot.NewKeyID, e.now())
	rec.Rotation = nil
	return nil
}

func noteDeleted(rec *state.Record, id string, now time.Time) {
	rec.Deleted.Set(id, now)
	rec.FirstSeen.Delete(id)
}
