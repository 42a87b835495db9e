package rotation

// Own-key rotation: the policy whose Self is set rotates the key rotatord
// signs with, through the same durable steps as any key, its one sink
// being the store rotatord reads its credential from at start. The
// invariants kept here: rotatord switches to the new key only once the
// store holds it (so a restart reads a key that works), proves the switch
// with a signed request before the old key may go, never deletes the key
// it signs with, and rotates its own key only while no other rotation is
// in flight (the switch happens between two rotations, never inside one).

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/sinks"
	"github.com/rotatord/rotatord/state"
)

// SelfCredential is the credential the API client signs with, for the
// policy that rotates it (Policy.Self).
type SelfCredential interface {
	// Use makes every later request sign with c, and returns what
	// switches back to the credential in force before.
	Use(c sinks.Credential) (revert func(), err error)
	// Current is the credential requests sign with now.
	Current() sinks.Credential
	// Check makes one signed, read-only request with c, without
	// switching to it: nil when the API accepts c.
	Check(ctx context.Context, c sinks.Credential) error
}

// ReasonOthersInFlight: the own key waits for the other rotations.
const ReasonOthersInFlight Reason = "rotatord's own key rotates only when no other rotation is in flight"

// ReasonOwnNameUnknown: the own key waits for a pass that can tell the
// role of every key of its name.
const ReasonOwnNameUnknown Reason = "rotatord's own key waits: the role of a key of its name (left out of this pass), or its own, is unknown: neither the listing nor a GET gave it"

// selfMatch selects rotatord's own key: the name and role the last listing
// showed for the key it signs with; before any listing, those of the own
// key's state record (a deletion may come before the first pass).
func (e *Engine) selfMatch(name, roleID string) bool {
	e.mu.Lock()
	selfName, selfRole := e.selfName, e.selfRole
	e.mu.Unlock()
	if selfName == "" {
		for _, p := range e.policies0() {
			if p.Self == nil {
				continue
			}
			for _, r := range e.store.List(p.Name) {
				if r.Name == name && (roleID == "" || sameRoleID(r.RoleID, roleID)) {
					return true
				}
			}
		}
		return false
	}
	// A key of the own name whose role neither its listing nor a GET
	// gave (askOwnNameRoles) counts as the own key's: taken for another
	// policy's, the own key's other key went unseen and a third was made.
	return name == selfName && (roleID == "" || sameRoleID(roleID, selfRole))
}

// policies0 returns the policies in force.
func (e *Engine) policies0() []Policy {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.policies
}

// followStore makes the client sign with what the credential store holds,
// when that differs from the key in use and no own rotation is in flight:
// the store is the truth a restart reads. A key there that signs is
// used (an operator replaced the credential by hand); one that does not
// (deleted since) is replaced in the store by the working key in use, so
// a restart never reads a dead credential.
func (e *Engine) followStore(ctx context.Context, p Policy) {
	if len(p.Sinks) == 0 {
		return
	}
	name, role := "", ""
	for _, r := range e.store.List(p.Name) {
		if r.Rotation != nil && r.Rotation.Phase != state.PhaseDelivered {
			// The rotation's recovery decides, but it needs a listing,
			// signed with a key the API accepts.
			e.followInFlight(ctx, p, r)
			return
		}
		name, role = r.Name, r.RoleID
	}
	store := p.Sinks[0]
	h, err := store.Read(ctx, name)
	own := e.own()
	log := e.log.With(zap.String("policy", p.Name))
	if name != "" && noCredential(h, err) {
		// The store holds no credential at all (emptied, removed, or
		// something that is none): a restart would read nothing that
		// signs, locked out for good, while the working key's secret is
		// only in this process. No key is lost by writing it back.
		e.ownStoreLost(p)
		cur := p.Self.Current()
		if cur.KeyID != own || cur.Secret.IsZero() || p.Self.Check(ctx, cur) != nil {
			return
		}
		cur.Name, cur.RoleID = name, role
		if werr := e.writeTo(ctx, p, 0, cur); werr != nil {
			log.Error("the credential store holds no usable credential, and writing the working one back failed", zap.Error(werr))
			return
		}
		log.Warn("the credential store held no usable credential: wrote back the one in use", zap.String("key_id", own), zap.NamedError("was", err))
		return
	}
	if err != nil || h.KeyID == "" || h.Secret.IsZero() {
		return
	}
	held := sinks.Credential{KeyID: h.KeyID, Secret: h.Secret}
	cur := p.Self.Current()
	if h.KeyID == own && (cur.KeyID != own || h.Secret == cur.Secret) {
		// The key in use, with its own secret. The same id with another
		// secret is no credential of it (a restart would sign with what
		// the API refuses): checked and written over as a dead key is.
		return
	}
	if err := p.Self.Check(ctx, held); err == nil {
		// Only a key of the own key's name and role: a store holding
		// another credential (a ci key written there by mistake) must
		// not make rotatord act as it.
		if k, err := e.keyAs(ctx, p, held); err != nil || !e.selfMatch(k.Name, k.RoleID) {
			e.ownStoreLost(p)
			log.Error("the credential store holds a key that is not rotatord's own key (another name or role, or unknown): not using it", zap.String("key_id", held.KeyID))
			return
		}
		if _, err := p.Self.Use(held); err == nil {
			e.setOwn(held.KeyID)
			log.Warn("the credential store holds another key than the one in use: signing with it", zap.String("key_id", held.KeyID), zap.String("was", own))
		}
		return
	}
	// Write the working key back only when the API refused the store's
	// as a credential (deleted, unknown): a 503 or a timeout says nothing
	// of it, and overwriting a key an operator put there would lock
	// rotatord out once they delete the one it replaced.
	var apiErr *apiclient.Error
	if err := p.Self.Check(ctx, held); !errors.As(err, &apiErr) || apiErr.Kind != apiclient.KindAuth {
		return
	}
	e.ownStoreLost(p) // a key the API refuses: a restart would be locked out
	if cur.KeyID != own || cur.Secret.IsZero() || p.Self.Check(ctx, cur) != nil {
		return
	}
	cur.Name, cur.RoleID = name, role
	if err := e.writeTo(ctx, p, 0, cur); err != nil {
		log.Error("the credential store holds a key that does not sign, and writing the working one back failed", zap.String("key_id", held.KeyID), zap.Error(err))
		return
	}
	if held.KeyID == own {
		log.Warn("the credential store held the key in use with a secret the API refuses: wrote back the one in use", zap.String("key_id", own))
		return
	}
	log.Warn("the credential store held a key that does not sign: wrote back the one in use", zap.String("dead_key_id", held.KeyID), zap.String("key_id", own))
}

// ownStoreLost counts the credential store found without the key in use
// and not simply followed (emptied, holding a dead key or another key's
// credential), as a sink check counts a lost sink: a restart reads the
// store, so the alert on lost sinks (RotatordSinkLostKey) must fire
// before one does, not only a log line.
func (e *Engine) ownStoreLost(p Policy) {
	if e.rec != nil {
		e.rec.SinkChecked(p.Name, sinkLabel(0, p.Sinks[0]), SinkLost)
	}
}

// OwnStoreEmpty reports whether the credential store of an own-key
// policy holds no credential at all (emptied, removed, or holding
// something that is none), as followStore would find it. It only reads.
func (e *Engine) OwnStoreEmpty(ctx context.Context) bool {
	policies, _ := e.snapshotPolicies()
	for _, p := range policies {
		if p.Self == nil || len(p.Sinks) == 0 {
			continue
		}
		name := ""
		for _, r := range e.store.List(p.Name) {
			name = r.Name
		}
		if name == "" {
			continue
		}
		if noCredential(p.Sinks[0].Read(ctx, name)) {
			return true
		}
	}
	return false
}

// noCredential reports whether what a credential store read gives is no
// credential at all: nothing there, something unreadable, or a key that
// is no Exoscale key id (a start or reload refuses to read it).
func noCredential(h sinks.Held, err error) bool {
	if errors.Is(err, sinks.ErrNotHeld) || errors.Is(err, sinks.ErrUnreadable) {
		return true
	}
	return err == nil && (!apiclient.ValidKeyID(h.KeyID) || h.Secret.IsZero())
}

// followInFlight: an own rotation is in flight and its new key is in the
// store already (its confirmation failed, so the client went back to the
// old key). When the API refuses the key in use (someone deleted the old
// key meanwhile), sign with the store's: rotatord made and recorded it,
// the API accepts it, and a restart would read it; otherwise every pass
// fails at its listing and the recovery that finishes the rotation never
// runs. When the API refuses the store's key instead (someone deleted the
// new key), write the working key back: until the recovery clears the
// rotation (after the failure's backoff), a restart would read a dead key
// and be locked out, the old key alive and its secret nowhere.
func (e *Engine) followInFlight(ctx context.Context, p Policy, rec state.Record) {
	rot := rec.Rotation
	h, err := p.Sinks[0].Read(ctx, rec.Name)
	if noCredential(h, err) {
		// The store holds no credential at all: neither key of the
		// rotation, so a restart or reload would read nothing that signs.
		// The working key goes back there, and the recovery finishes from
		// it (a new key whose secret was only in the store is lost anyway).
		e.ownStoreLost(p)
		cur := p.Self.Current()
		if cur.KeyID != e.own() || cur.Secret.IsZero() || p.Self.Check(ctx, cur) != nil {
			return
		}
		cur.Name, cur.RoleID = rec.Name, rec.RoleID
		log := e.log.With(zap.String("policy", p.Name), zap.String("name", rec.Name))
		if werr := e.writeTo(ctx, p, 0, cur); werr != nil {
			log.Error("the credential store holds no usable credential while an own rotation is in flight, and writing the working one back failed", zap.Error(werr))
			return
		}
		log.Warn("the credential store held no usable credential while an own rotation is in flight: wrote back the one in use", zap.String("key_id", cur.KeyID))
		return
	}
	if err != nil || h.KeyID == "" || h.Secret.IsZero() {
		return
	}
	held := sinks.Credential{KeyID: h.KeyID, Secret: h.Secret}
	cur := p.Self.Current()
	if held.KeyID == cur.KeyID && held.Secret == cur.Secret {
		return // the key in use
	}
	// The rotation's new key, not yet signed with.
	isNew := rot.NewKeyID != "" && rot.NewKeyID != e.own() && held.KeyID == rot.NewKeyID
	refused := func(err error) bool {
		var apiErr *apiclient.Error
		return errors.As(err, &apiErr) && apiErr.Kind == apiclient.KindAuth
	}
	curErr := p.Self.Check(ctx, cur)
	if curErr != nil && !refused(curErr) {
		return // says nothing of either key
	}
	heldErr := p.Self.Check(ctx, held)
	was := e.own()
	log := e.log.With(zap.String("policy", p.Name), zap.String("name", rec.Name))
	switch {
	case isNew && refused(curErr) && heldErr == nil:
		if _, err := p.Self.Use(held); err == nil {
			e.setOwn(held.KeyID)
			log.Warn("the API refuses the key in use; signing with the new key of the rotation in flight, which the credential store holds",
				zap.String("key_id", held.KeyID), zap.String("was", was))
		}
	case curErr == nil && refused(heldErr) && cur.KeyID == was && !cur.Secret.IsZero():
		// Whatever the store holds that the API refuses (the new key,
		// deleted since; a key deleted before; the id of the key in use
		// with another secret): a restart before the recovery would read
		// it, locked out with the working secret only in this process.
		e.ownStoreLost(p)
		cur.Name, cur.RoleID = rec.Name, rec.RoleID
		what := "the new key of the rotation in flight"
		if !isNew {
			what = "a credential"
		}
		if err := e.writeTo(ctx, p, 0, cur); err != nil {
			log.Error("the credential store holds "+what+" the API refuses while an own rotation is in flight, and writing the working one back failed",
				zap.String("dead_key_id", held.KeyID), zap.Error(err))
			return
		}
		log.Warn("the credential store held "+what+" the API refuses while an own rotation is in flight: wrote back the one in use",
			zap.String("dead_key_id", held.KeyID), zap.String("key_id", was))
	}
}

// noteSelf remembers the name and role of the key rotatord signs with, from
// a listing.
func (e *Engine) noteSelf(keys []apiclient.Key) {
	own := e.own()
	i := slices.IndexFunc(keys, func(k apiclient.Key) bool { return k.ID == own })
	if i < 0 {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if keys[i].RoleID == "" {
		// Listed without its role, which neither a GET nor the records
		// gave (askOwnNameRoles): the name and role known stay. Taken as
		// no role on a process's first pass, selfMatch matched no key of
		// the real role, and the deleter refused the old own key's
		// deletion as an edited record.
		return
	}
	e.selfName, e.selfRole = keys[i].Name, keys[i].RoleID
}

// selfNameNow and selfRoleNow are the own key's name and role as the last
// listing showed them ("" before any).
func (e *Engine) selfNameNow() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.selfName
}

func (e *Engine) selfRoleNow() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.selfRole
}

// formerOwnKeys returns the live keys of a record of the own-key policy
// whose name and role are no longer those of the key rotatord signs with:
// keys of the record's name and role, other than the key in use. Empty
// before any listing showed the own key, and for the own name and role.
func (e *Engine) formerOwnKeys(name string, rec *state.Record, all []apiclient.Key) []string {
	e.mu.Lock()
	selfName, selfRole := e.selfName, e.selfRole
	e.mu.Unlock()
	if selfName == "" || selfRole == "" || rec.RoleID == "" || name == selfName && sameRoleID(rec.RoleID, selfRole) {
		return nil
	}
	own := e.own()
	var ids []string
	for _, k := range all {
		if k.ID == own || k.Name != name || k.RoleID == "" || !sameRoleID(k.RoleID, rec.RoleID) || rec.Deleted.Has(k.ID) {
			continue
		}
		ids = append(ids, k.ID)
	}
	slices.Sort(ids)
	return ids
}

// askOwnNameRoles fills in, by GET, the role of the keys of the own key's
// name that the listing shows without one (every field of the API's
// schema is optional). The own key is told by its name and role: a key of
// the own name listed without its role was another policy's, so the
// own-key policy, its current key unseen, rotated the other own key: a
// third key of the name (selfMatch takes a key the GET cannot tell as
// the own key's, too).
//
// A key the GET cannot tell either (it fails, or gives no role) counts as
// the own key's only when rotatord knows it: the key it signs with, or
// one its own records name (the current key, a rotation's new and old
// keys, a key deleted), or while an own rotation searches for its
// orphan (it must see every key of the name). Any other such key may be of another role
// (a read-only key named alike): taken as the own key's, it was adopted
// as an old key to delete after the grace period, whose deletion was then
// refused as an edited record. It is left out of this pass's listing
// (unknown is then true: the own key does not rotate in that pass, as it
// may be an own key, and a rotation past it made a third key of the
// name), and the next pass asks again. The key rotatord signs with, that
// the GET cannot tell either, takes the role the last listing or the own
// records give it (unknown is true when none does).
func (e *Engine) askOwnNameRoles(ctx context.Context, keys []apiclient.Key, policies []Policy) (_ []apiclient.Key, unknown bool) {
	if !slices.ContainsFunc(policies, func(p Policy) bool { return p.Self != nil }) {
		return keys, false
	}
	e.mu.Lock()
	selfName, selfRole := e.selfName, e.selfRole
	e.mu.Unlock()
	own := e.own()
	// Before a listing noted the own key (the first pass of a process),
	// its name is its records': read once, not once a key (selfMatch
	// scans the whole journal; an API whose listing gives no roles made
	// that a scan per key of the organization).
	// Nor does a journal without the own key's record (a new journal,
	// or _self just added) name it: the listing's entry for the key
	// rotatord signs with does. Without it, another key of the name
	// (a read-only key named alike) went unasked, and counted as an own
	// key for its blank role.
	listedName := ""
	if i := slices.IndexFunc(keys, func(k apiclient.Key) bool { return k.ID == own }); i >= 0 {
		listedName = keys[i].Name
	}
	var recorded map[string]bool
	ownName := func(name string) bool {
		if selfName != "" {
			return name == selfName
		}
		if name == listedName {
			return true
		}
		if recorded == nil {
			recorded = map[string]bool{}
			for _, p := range policies {
				if p.Self != nil {
					for _, r := range e.store.List(p.Name) {
						recorded[r.Name] = true
					}
				}
			}
		}
		return recorded[name]
	}
	var known map[string]bool          // the ids the own records name
	var recordedRole map[string]string // the role they give the live ones
	searching := false                 // an own rotation's orphan search: every key counts
	readRecords := func() {
		if known != nil {
			return
		}
		known, recordedRole = map[string]bool{}, map[string]string{}
		for _, p := range policies {
			if p.Self == nil {
				continue
			}
			for _, r := range e.store.List(p.Name) {
				known[r.CurrentKeyID] = true
				recordedRole[r.CurrentKeyID] = cmp.Or(recordedRole[r.CurrentKeyID], r.RoleID)
				for _, d := range r.Deleted {
					known[d.ID] = true
				}
				if rot := r.Rotation; rot != nil {
					searching = searching || rot.Phase == state.PhaseIntent || rot.NewKeyID == ""
					known[rot.NewKeyID] = true
					role := cmp.Or(rot.RoleID, r.RoleID)
					recordedRole[rot.NewKeyID] = cmp.Or(recordedRole[rot.NewKeyID], role)
					for _, o := range rot.OldKeyIDs {
						known[o] = true
						recordedRole[o] = cmp.Or(recordedRole[o], role)
					}
				}
			}
		}
		delete(known, "")
	}
	knownOwn := func(id string) bool {
		readRecords()
		return searching || known[id]
	}
	// The key rotatord signs with, listed without its role and its GET
	// failing (or giving none), keeps the role a listing or its records
	// gave it: taken as none on a process's first pass, the other own
	// keys, listed with the real role, were no longer the own key's (the
	// policy saw its current key gone and rotated: a third own key; a
	// deletion of the old own key was refused as the policy's no more).
	// Unknown to both, the own key does not rotate in that pass.
	ownRole := func(k apiclient.Key) string {
		if selfName == k.Name && selfRole != "" {
			return selfRole
		}
		readRecords()
		return recordedRole[k.ID]
	}
	var unknownIDs []string
	for i, k := range keys {
		if k.RoleID != "" || k.Name == "" {
			continue
		}
		if k.ID != own && !ownName(k.Name) {
			continue
		}
		if g, err := e.client().GetKey(ctx, k.ID); err == nil && g.ID == k.ID && g.RoleID != "" && cmp.Or(g.Name, k.Name) == k.Name {
			keys[i].RoleID = g.RoleID
			continue
		}
		if k.ID == own {
			if keys[i].RoleID = ownRole(k); keys[i].RoleID == "" {
				unknown = true
			}
			continue
		}
		if !knownOwn(k.ID) {
			unknownIDs = append(unknownIDs, k.ID)
		}
	}
	if len(unknownIDs) == 0 {
		if unknown {
			e.log.Warn("the key rotatord signs with is listed without its role, which neither a GET nor its records give: its own key does not rotate in this pass",
				zap.String("key_id", own))
		}
		return keys, unknown
	}
	e.log.Warn("keys of rotatord's own name that neither the listing nor a GET gives a role, and that rotatord does not know: left alone in this pass (they may be of another role)",
		zap.Strings("key_ids", unknownIDs))
	return slices.DeleteFunc(keys, func(k apiclient.Key) bool { return k.RoleID == "" && slices.Contains(unknownIDs, k.ID) }), true
}

// setOwn changes the id of the key rotatord signs with.
func (e *Engine) setOwn(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ownKeyID = id
}

// useNewSelf switches the API client to the new own key the store holds
// now, and returns what switches back (when the new key cannot be
// confirmed, the old one, still valid, carries on).
func (e *Engine) useNewSelf(p Policy, cred sinks.Credential) (func(), error) {
	prev := e.own()
	revert, err := p.Self.Use(cred)
	if err != nil {
		return nil, err
	}
	e.setOwn(cred.KeyID)
	return func() {
		revert()
		e.setOwn(prev)
	}, nil
}

// othersInFlight reports whether a rotation of another policy has begun
// and not yet delivered: the own key must not switch under it.
func (e *Engine) othersInFlight(self string) (string, bool) {
	for _, r := range e.store.List("") {
		if r.Policy != self && r.Rotation != nil && r.Rotation.Phase != state.PhaseDelivered {
			return r.Policy + "/" + r.Name, true
		}
	}
	return "", false
}

// proveSigns waits until the API accepts a new own key for signing, before
// the store gets it: a store must never hold a key that cannot sign (the
// API may apply a create late), or a restart or reload would read a
// credential that fails every request. It tries for the settle time, the
// longest a create takes to apply.
func (e *Engine) proveSigns(ctx context.Context, p Policy, cred sinks.Credential) error {
	settle := e.settleTime()
	deadline := e.now().Add(settle)
	// Bounded in attempts and in real time too, whatever the engine's
	// clock says (a clock that does not move must not make it spin).
	attempts, began := max(3, int(settle/(2*time.Second))+3), time.Now()
	wait := 200 * time.Millisecond
	for n := 1; ; n++ {
		err := p.Self.Check(ctx, cred)
		if err == nil {
			return nil
		}
		if !e.now().Before(deadline) || n >= attempts || time.Since(began) > settle {
			return fmt.Errorf("the new key does not sign requests yet: %w", err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// SelfLister is implemented by a SelfCredential that can list the keys
// signing with a given credential (the daemon's): the key in use may be
// dead when the store holds a newer one.
type SelfLister interface {
	ListAs(ctx context.Context, c sinks.Credential) ([]apiclient.Key, error)
}

// keyAs returns the API's view of c's own key, asked with c itself when
// the SelfCredential can, else with the client in use (which also fills
// in a name or role the signed listing leaves out).
func (e *Engine) keyAs(ctx context.Context, p Policy, c sinks.Credential) (apiclient.Key, error) {
	l, ok := p.Self.(SelfLister)
	if !ok {
		return getKey(ctx, e.client(), c.KeyID)
	}
	keys, err := l.ListAs(ctx, c)
	if err != nil {
		return apiclient.Key{}, err
	}
	i := slices.IndexFunc(keys, func(k apiclient.Key) bool { return k.ID == c.KeyID })
	if i < 0 {
		return apiclient.Key{}, fmt.Errorf("key %s is not in the listing it signed", c.KeyID)
	}
	k := keys[i]
	if k.Name == "" || k.RoleID == "" {
		// Every field of the API's schema is optional: a listing that
		// leaves the key's name or role out says nothing about them (read
		// as another role, each own-key rotation deleted the key it made).
		// The key signs and is listed; its name and role are asked for.
		g, err := getKey(ctx, e.client(), c.KeyID)
		if err != nil {
			return apiclient.Key{}, fmt.Errorf("key %s: the listing it signed leaves its name or role out: %w", c.KeyID, err)
		}
		k.Name = cmp.Or(k.Name, g.Name)
		k.RoleID = cmp.Or(k.RoleID, g.RoleID)
	}
	return k, nil
}
