package rotation

// The sink check (Policy.SinkCheck). A consumer's copy of its key can go
// between two rotations: a file removed, a Secret pruned by GitOps, a
// Vault version written by hand. A pass with nothing due reads no sink, so
// without the check that consumer would wait for the name's next rotation,
// max_age away. With it, a pass reads every sink of a name once
// SinkCheck has passed since this process last did; a sink that does not
// hold the current key gets it from a sink that does (syncSinks), and when
// no sink can give it back (the secret is kept nowhere else), the name
// rotates, in the policy's windows like any rotation. A rotation whose
// old keys wait for their deletion is checked too (graceCheck).
//
// When a check was made is kept in memory only: a process checks every
// name at its first pass. A sink found without the key keeps its delivery
// in the record with no key id until it gets a key again: that is the
// loss, which makes the name rotate (stillLost) whatever later checks
// could read (a sink unreachable at the next one) and whichever process
// finds the name (one started since, another replica), and which the
// check of a process started since takes for a sink rotatord delivered to
// (a sink it never delivered to is no loss).

import (
	"context"
	"crypto/subtle"
	"errors"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/secret"
	"github.com/rotatord/rotatord/sinks"
	"github.com/rotatord/rotatord/state"
)

// Results of a sink check's read of one sink (Recorder.SinkChecked).
const (
	SinkHeld    = "held"    // the sink holds the current key
	SinkLost    = "lost"    // it holds nothing, another key, or what it cannot name
	SinkUnknown = "unknown" // it could not be read (unreachable, refused)
)

// sinkCheck is what this process knows of one name's sink checks.
type sinkCheck struct {
	at time.Time // the last check
	// unwritable: the last check found a sink without the current key
	// that failed its probe (rotatord may not write there). A rotation
	// for a loss would fail at that probe at every backoff: none starts
	// until a check finds every lost sink writable (lossUnwritable).
	unwritable bool
}

// sinkCheckDue returns when the name's next check is due: the zero time
// when this process never checked it.
func (e *Engine) sinkCheckDue(p *Policy, name string) time.Time {
	e.sinkChecksMu.Lock()
	defer e.sinkChecksMu.Unlock()
	c, ok := e.sinkChecks[recordKey{p.Name, name}]
	if !ok {
		return time.Time{}
	}
	return c.at.Add(p.SinkCheck)
}

// setSinkCheck records a check at at that found no lost sink unwritable
// (or a rotation, which probed and wrote every sink).
func (e *Engine) setSinkCheck(p Policy, name string, at time.Time) {
	e.setSinkCheckFound(p, name, at, false)
}

// setSinkCheckFound records a check at at, and whether it found a lost
// sink rotatord may not write.
func (e *Engine) setSinkCheckFound(p Policy, name string, at time.Time, unwritable bool) {
	e.sinkChecksMu.Lock()
	defer e.sinkChecksMu.Unlock()
	if e.sinkChecks == nil {
		e.sinkChecks = map[recordKey]sinkCheck{}
	}
	e.sinkChecks[recordKey{p.Name, name}] = sinkCheck{at: at, unwritable: unwritable}
	e.sinkCheckGen.Add(1)
}

// lossUnwritable reports whether this process's last check of the name
// found a lost sink rotatord may not write: a loss recorded earlier
// (stillLost) is then not rotated for, as a rotation would fail at that
// sink's probe.
func (e *Engine) lossUnwritable(p Policy, name string) bool {
	e.sinkChecksMu.Lock()
	defer e.sinkChecksMu.Unlock()
	return e.sinkChecks[recordKey{p.Name, name}].unwritable
}

// forgetSinkCheck drops what this process knows of a name's checks when
// its record goes: names come and go, and the memory must not grow with
// every name ever seen.
func (e *Engine) forgetSinkCheck(p Policy, name string) {
	e.sinkChecksMu.Lock()
	defer e.sinkChecksMu.Unlock()
	delete(e.sinkChecks, recordKey{p.Name, name})
}

// keepSinkChecksOf drops the check times of the policies not in p, or
// whose sink_check is off: a daemon reloaded over and over must not keep
// every name a removed or renamed policy ever checked. (A loss is kept in
// the record, not here.)
func (e *Engine) keepSinkChecksOf(p []Policy) {
	checks := map[string]bool{}
	for _, pol := range p {
		checks[pol.Name] = pol.SinkCheck > 0
	}
	e.sinkChecksMu.Lock()
	defer e.sinkChecksMu.Unlock()
	for k := range e.sinkChecks {
		if !checks[k.policy] {
			delete(e.sinkChecks, k)
		}
	}
}

// checkSinks reads every sink of the name when its check is due, and
// empties the delivery of each sink found without the current key (no key
// id), so that syncSinks gives it back. It reports whether the record changed
// and whether a sink was found without the key.
//
// A sink that names the current key but whose content changed since
// rotatord wrote it (its fingerprint) is lost too, and is returned in
// edited: syncSinks must write it, not take its read-back for the key.
func (e *Engine) checkSinks(ctx context.Context, p Policy, rec *state.Record, live []apiclient.Key, now time.Time) (changed, lost bool, edited []string) {
	if p.SinkCheck <= 0 || p.Self != nil || rec.CurrentKeyID == "" ||
		!slices.ContainsFunc(live, func(k apiclient.Key) bool { return k.ID == rec.CurrentKeyID }) {
		return false, false, nil
	}
	if due := e.sinkCheckDue(&p, rec.Name); !due.IsZero() && now.Before(due) {
		return false, false, nil
	}
	unwritable := false
	for i, s := range p.Sinks {
		sid := sinkID(s, rec.Name)
		result := e.sinkHolds(ctx, s, rec, sid)
		editedHere := false
		if result == SinkHeld && e.changedSinceDelivery(ctx, s, rec) {
			// The key id is right, the content is not what was written:
			// a secret edited by hand, which signs nothing.
			result, editedHere = SinkLost, true
		}
		d, delivered := rec.Delivered.Get(sid)
		if result == SinkLost && (!delivered || (d.KeyID != "" && d.KeyID != rec.CurrentKeyID)) {
			// rotatord never gave this sink the current key (a key found
			// with adopt: wait, a sink a reload added): nothing was lost
			// there. syncSinks fills it from another sink when one can,
			// else it waits for the next rotation, as without the check.
			// Counted as a loss, every name found on a first deployment
			// would rotate at once and page. (A delivery with no key id
			// is a loss an earlier check found: still one.)
			continue
		}
		if e.rec != nil {
			e.rec.SinkChecked(p.Name, sinkLabel(i, s), result)
		}
		if result != SinkLost {
			continue
		}
		if err := s.Probe(ctx, rec.Name); err != nil {
			// rotatord may not write there (a Secret someone else owns
			// now, a file another tool replaced): neither a copy nor a
			// new key can give the key back, and a rotation would fail
			// at this probe at every backoff, running on_failure each
			// time, while the other sinks' consumers are fine. Reported
			// (the metric counts the loss), not acted on; a later check
			// that finds the sink writable again repairs it. A loss
			// recorded earlier (its delivery kept with no key id) stays
			// recorded, and is not rotated for meanwhile either.
			unwritable = true
			e.log.Warn("a sink no longer holds the current key, and rotatord may not write there: its consumer needs an operator",
				zap.String("policy", p.Name), zap.String("name", rec.Name), zap.String("sink", sinkLabel(i, s)),
				zap.String("target", s.Target(rec.Name)), zap.String("key_id", rec.CurrentKeyID), zap.Error(err))
			continue
		}
		if editedHere {
			edited = append(edited, sid)
		}
		lost = true
		e.log.Warn("a sink no longer holds the current key", zap.String("policy", p.Name), zap.String("name", rec.Name),
			zap.String("sink", sinkLabel(i, s)), zap.String("target", s.Target(rec.Name)), zap.String("key_id", rec.CurrentKeyID))
		if d != (state.Delivery{}) {
			// Its delivery is kept with no key id: syncSinks gives the
			// sink the key back, and a check after a restart (the name
			// may wait for a window) still knows rotatord delivered
			// there, and that the sink lost it.
			rec.Delivered.Set(sid, state.Delivery{})
			changed = true
		}
	}
	e.setSinkCheckFound(p, rec.Name, now, unwritable)
	return changed, lost, edited
}

// sinkHolds says whether s holds the record's current key: by the key id
// it reads back, or, for a sink that cannot give its secret back (a
// free-form template), by the fingerprint of what it holds against the
// one recorded at delivery.
func (e *Engine) sinkHolds(ctx context.Context, s sinks.Sink, rec *state.Record, sid string) string {
	h, err := s.Read(ctx, rec.Name)
	switch {
	case err == nil && h.KeyID == rec.CurrentKeyID:
		return SinkHeld
	case err == nil, errors.Is(err, sinks.ErrNotHeld):
		return SinkLost
	case !errors.Is(err, sinks.ErrUnreadable):
		e.log.Debug("sink check: cannot read a sink", zap.String("policy", rec.Policy), zap.String("name", rec.Name),
			zap.String("target", s.Target(rec.Name)), zap.Error(err))
		return SinkUnknown
	}
	if sinks.CanReadBack(s) {
		// Damaged, or in another format than the sink's (a reload changed
		// it): its consumer cannot read it either, whatever its
		// fingerprint says.
		return SinkLost
	}
	fp, ok := s.(sinks.Fingerprinter)
	if !ok {
		return SinkUnknown
	}
	d, delivered := rec.Delivered.Get(sid)
	if delivered && d == (state.Delivery{}) {
		return SinkLost // found so by an earlier check, not given back since
	}
	if !delivered || d.KeyID != rec.CurrentKeyID || d.Fingerprint == "" {
		return SinkUnknown // nothing recorded to compare with
	}
	got, err := fp.CurrentFingerprint(ctx, rec.Name)
	switch {
	case errors.Is(err, sinks.ErrNotHeld):
		return SinkLost
	case err != nil:
		return SinkUnknown
	case got == d.Fingerprint:
		return SinkHeld
	}
	return SinkLost
}

// graceCheck reports whether a pass checks the sinks of a name whose
// rotation is delivered and waits for its old keys' deletion (the grace
// period, a window, a backoff, a deletion refused): the sinks hold its new
// key, the current one, and a consumer whose sink is emptied meanwhile
// gets it back from another sink. A loss no sink can give back waits for
// the deletion, as a new rotation would make a third key: the name then
// rotates (stillLost).
func graceCheck(p Policy, rec *state.Record) bool {
	rot := rec.Rotation
	return p.SinkCheck > 0 && rot != nil && rot.Phase == state.PhaseDelivered && rot.NewKeyID != "" && rot.NewKeyID == rec.CurrentKeyID
}

// stillLost reports whether a check found a sink without the current key
// that syncSinks could not refill since: its delivery is kept with no key
// id until the sink is given a key (by syncSinks, or a rotation).
func stillLost(p Policy, rec *state.Record) bool {
	if p.SinkCheck <= 0 {
		return false
	}
	for _, s := range p.Sinks {
		if d, ok := rec.Delivered.Get(sinkID(s, rec.Name)); ok && d == (state.Delivery{}) {
			return true
		}
	}
	return false
}

// changedSinceDelivery reports whether s, a sink that fingerprints what it
// holds, no longer holds what rotatord delivered there for the current
// key: a file its consumer rewrote under the same key id, with a secret of
// its own or a broken one, reads back as the current key all the same.
func (e *Engine) changedSinceDelivery(ctx context.Context, s sinks.Sink, rec *state.Record) bool {
	fp, ok := s.(sinks.Fingerprinter)
	if !ok {
		return false
	}
	if lostFingerprinted(s, rec) {
		return true
	}
	d, ok := rec.Delivered.Get(sinkID(s, rec.Name))
	if !ok || d.KeyID != rec.CurrentKeyID || d.Fingerprint == "" {
		return false // nothing recorded to compare with
	}
	got, err := fp.CurrentFingerprint(ctx, rec.Name)
	return err == nil && got != d.Fingerprint
}

// lostFingerprinted reports whether s fingerprints what it holds and an
// earlier check found it lost (its delivery kept with no key id, and
// without the fingerprint it had): what it holds since is not known to be
// what rotatord wrote, whatever key id it names (a file edited under the
// current key's id, found so by a check outside the policy's windows or
// before a restart). It is no source and not taken as held until written
// again.
func lostFingerprinted(s sinks.Sink, rec *state.Record) bool {
	if _, ok := s.(sinks.Fingerprinter); !ok {
		return false
	}
	d, ok := rec.Delivered.Get(sinkID(s, rec.Name))
	return ok && d == (state.Delivery{})
}

// trustedCopy is copyOf for the current key, from a sink that still holds
// what rotatord delivered there: the secret of a file changed since (its
// consumer owns it) is copied to no other sink, whose consumer would be
// left with a key that does not sign and that every check reads back as
// held. Nor is a sink in edited (a check found it so, and forgot its
// delivery). With no such sink, nil: the sink waits for a rotation (with
// sink_check, at once).
//
// A sink rotatord delivered the current key to (or found holding it) is
// asked before one it never did (a sink a reload added, whose target may
// hold a copy someone made by hand): the first has what rotatord wrote.
func (e *Engine) trustedCopy(ctx context.Context, p Policy, rec *state.Record, edited []string) *sinks.Credential {
	var recorded, others []int
	for _, i := range deliveryOrder(p.Sinks) {
		if d, ok := rec.Delivered.Get(sinkID(p.Sinks[i], rec.Name)); ok && d.KeyID == rec.CurrentKeyID {
			recorded = append(recorded, i)
		} else {
			others = append(others, i)
		}
	}
	for _, i := range append(recorded, others...) {
		s := p.Sinks[i]
		if slices.Contains(edited, sinkID(s, rec.Name)) {
			continue
		}
		if h, c := e.holds(ctx, s, rec, rec.CurrentKeyID); h == isHeld && c != nil {
			if lostFingerprinted(s, rec) {
				continue // a check found it lost: warned then
			}
			if e.changedSinceDelivery(ctx, s, rec) {
				// Said once per process and key: a daemon passes every
				// minute; a change under a later key is news.
				k := recordKey{p.Name, rec.Name + "\x00" + sinkID(s, rec.Name) + "\x00" + rec.CurrentKeyID}
				if !e.firstWarning(e.warnedUntrusted, k) {
					continue
				}
				e.log.Warn("not copying the current key from a sink changed since its delivery", zap.String("policy", p.Name),
					zap.String("name", rec.Name), zap.String("sink", sinkLabel(i, s)), zap.String("target", s.Target(rec.Name)))
				continue
			}
			return c
		}
	}
	return nil
}

// foundFingerprint is the fingerprint of what s holds for name now, for a
// sink found holding the current key that rotatord did not write (a key
// found in place, an adoption): a sink check then sees a later edit under
// the same key id (changedSinceDelivery), and takes the sink for no
// source of the key, as it does a file rotatord wrote. "" for a sink that
// does not fingerprint, or cannot now.
func foundFingerprint(ctx context.Context, s sinks.Sink, name string) string {
	fp, ok := s.(sinks.Fingerprinter)
	if !ok {
		return ""
	}
	f, err := fp.CurrentFingerprint(ctx, name)
	if err != nil {
		return ""
	}
	return f
}

// sameSecret compares two secrets in constant time.
func sameSecret(a, b secret.Value) bool {
	return subtle.ConstantTimeCompare([]byte(a.Reveal()), []byte(b.Reveal())) == 1
}
