package rotation

// What a sink holds decides every deletion. This file keeps one invariant:
// a key is deleted only when every sink proves it does not hold it, or
// rotatord itself recorded delivering a newer key there. A sink that
// cannot be read back proves what it holds by fingerprints the journal
// recorded before and after writing it; when those do not settle it, the
// sink may hold anything, and that blocks the deletion.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/sinks"
	"github.com/rotatord/rotatord/state"
)

// holding is what is known of a sink holding one key.
type holding int

const (
	notHeld holding = iota // the sink proves it holds another key, or none
	isHeld                 // the sink holds the key
	mayHold                // the sink cannot prove either
)

// holds says whether sink s holds key id for rec's name. When the sink
// holds the key and can give its secret back, the credential comes too.
func (e *Engine) holds(ctx context.Context, s sinks.Sink, rec *state.Record, id string) (holding, *sinks.Credential) {
	if rot := rec.Rotation; rot != nil && rot.Sinks != nil && !slices.Contains(rot.KnownKeyIDs, id) {
		if _, ok := rot.Sinks[sinkID(s, rec.Name)]; !ok && !sinks.CanReadBack(s) {
			// The rotation records every sink before it writes one: a
			// sink it never recorded cannot hold a key made after its
			// intent. Unless its identity changed since (a reload, an
			// upgrade that names targets otherwise): a sink that can be
			// read back is asked rather than trusted to be new.
			return notHeld, nil
		}
	}
	h, err := s.Read(ctx, rec.Name)
	switch {
	case errors.Is(err, sinks.ErrNotHeld):
		return notHeld, nil
	case err == nil && h.KeyID == id:
		var c *sinks.Credential
		if !h.Secret.IsZero() {
			role := rec.RoleID
			if rec.Rotation != nil && rec.Rotation.RoleID != "" {
				role = rec.Rotation.RoleID
			}
			c = &sinks.Credential{Name: rec.Name, KeyID: id, RoleID: role, Secret: h.Secret}
		}
		return isHeld, c
	case err == nil:
		return notHeld, nil
	case !errors.Is(err, sinks.ErrUnreadable):
		return mayHold, nil // cannot read it now: it may hold anything
	}
	return e.holdsByFingerprint(ctx, s, rec, id), nil
}

// holdsByFingerprint compares what a sink that cannot be read back holds
// with the fingerprints rotatord recorded.
func (e *Engine) holdsByFingerprint(ctx context.Context, s sinks.Sink, rec *state.Record, id string) holding {
	fp, ok := s.(sinks.Fingerprinter)
	if !ok {
		return mayHold
	}
	cur, err := fp.CurrentFingerprint(ctx, rec.Name)
	switch {
	case errors.Is(err, sinks.ErrNotHeld):
		return notHeld
	case err != nil || cur == "":
		return mayHold
	}
	is := func(key string) holding {
		if key == id {
			return isHeld
		}
		return notHeld
	}
	sid := sinkID(s, rec.Name)
	if rot := rec.Rotation; rot != nil {
		m := rot.Sinks[sid]
		if m.New != "" && m.New == cur && rot.NewKeyID != "" {
			return is(rot.NewKeyID)
		}
		if m.Before != "" && m.Before == cur && !slices.Contains(rot.KnownKeyIDs, id) {
			// Content older than the intent cannot hold a key made after it.
			return notHeld
		}
	}
	if d, ok := rec.Delivered.Get(sid); ok && d.Fingerprint != "" && d.Fingerprint == cur {
		return is(d.KeyID)
	}
	return mayHold
}

// blocksDeletion returns an error when a sink holds, or may hold, key id:
// deleting it would cut a consumer off. A sink that rotatord recorded
// delivering the rotation's new key to does not block the old keys: what
// was written over since is not rotatord's. Nor is a key another account
// of the daemon signs with ever deleted (Config.OtherAccounts).
func (e *Engine) blocksDeletion(ctx context.Context, p Policy, rec *state.Record, id string) error {
	if e.otherAccounts != nil {
		// A pass refuses to act on such a listing, but the deleter, an
		// orphan search and a lingering deletion run without one.
		if name, ok := e.otherAccounts()[id]; ok {
			return fmt.Errorf("key %s is the key account %s signs with: the two accounts are one organization", id, name)
		}
	}
	for i, s := range p.Sinks {
		h, _ := e.holds(ctx, s, rec, id)
		switch h {
		case isHeld:
			return fmt.Errorf("key %s is held by sink %s (%s)", id, sinkLabel(i, s), s.Target(rec.Name))
		case mayHold:
			if rot := rec.Rotation; rot != nil && rot.Sinks[sinkID(s, rec.Name)].Delivered && id != rot.NewKeyID {
				continue
			}
			return fmt.Errorf("sink %s (%s) cannot prove it does not hold key %s", sinkLabel(i, s), s.Target(rec.Name), id)
		}
	}
	return nil
}

// deliveryOrder returns the indexes of the sinks, those that can be read
// back first: when a delivery stops half way, a sink that holds the new
// key can give its secret back to resume from.
func deliveryOrder(ss []sinks.Sink) []int {
	var first, last []int
	for i, s := range ss {
		if sinks.CanReadBack(s) {
			first = append(first, i)
		} else {
			last = append(last, i)
		}
	}
	return append(first, last...)
}

// fingerprintsBefore returns a mark for every sink, with the fingerprint of
// what it holds now for those that can give one. A sink that can give one
// but fails to is an error: without it, a crash after the create could
// never prove that sink does not hold the new key.
func fingerprintsBefore(ctx context.Context, ss []sinks.Sink, name string) (map[string]state.SinkMark, error) {
	marks := map[string]state.SinkMark{}
	for i, s := range ss {
		fp, ok := s.(sinks.Fingerprinter)
		if !ok {
			continue
		}
		cur, err := fp.CurrentFingerprint(ctx, name)
		switch {
		case errors.Is(err, sinks.ErrNotHeld):
		case err != nil:
			return nil, fmt.Errorf("sink %s: fingerprint of what it holds: %w", sinkLabel(i, s), err)
		default:
			marks[sinkID(s, name)] = state.SinkMark{Before: cur}
		}
	}
	for _, s := range ss {
		if _, ok := marks[sinkID(s, name)]; !ok {
			marks[sinkID(s, name)] = state.SinkMark{}
		}
	}
	return marks, nil
}

// recordSinks adds to the rotation every sink it does not know yet (a
// reload added it), so that holds can trust that a sink the rotation does
// not list was never written with its key. It reports whether it added any.
func recordSinks(rot *state.Rotation, ss []sinks.Sink, name string) bool {
	added := false
	for _, s := range ss {
		sid := sinkID(s, name)
		if _, ok := rot.Sinks[sid]; ok {
			continue
		}
		if rot.Sinks == nil {
			rot.Sinks = map[string]state.SinkMark{}
		}
		rot.Sinks[sid] = state.SinkMark{}
		added = true
	}
	return added
}

func markNew(rot *state.Rotation, ss []sinks.Sink, c sinks.Credential) {
	for _, s := range ss {
		fp, ok := s.(sinks.Fingerprinter)
		if !ok {
			continue
		}
		f, err := fp.Fingerprint(c)
		if err != nil {
			continue
		}
		if rot.Sinks == nil {
			rot.Sinks = map[string]state.SinkMark{}
		}
		sid := sinkID(s, c.Name)
		m := rot.Sinks[sid]
		m.New = f
		rot.Sinks[sid] = m
	}
}

// existence is what the API says of a key.
type existence int

const (
	exists existence = iota
	gone
	unsure // not found, but too recent to be sure: listings may lag
)

// keyExists asks the API whether key id, the new key of rec's rotation,
// exists. No single "not found" is final: the listing must also lack the
// key, the key must be older than the settle time (a new key may not show
// yet), and a second look at least the settle time after the first must
// find it missing too (listings lag). The first miss is noted in the
// rotation, which the caller saves. The key found must carry the record's
// name and role: a record that names another key is refused.
func (e *Engine) keyExists(ctx context.Context, rec *state.Record, id string, since time.Time) (existence, error) {
	api := e.client()
	rot := rec.Rotation
	role := rec.RoleID
	if rot != nil && rot.RoleID != "" {
		role = rot.RoleID
	}
	k, err := getKey(ctx, api, id)
	if err == nil {
		if id == e.own() {
			e.noteOwnShown(id) // a new own key, confirmed
		}
		if k.Name != rec.Name || (role != "" && k.RoleID != "" && !sameRoleID(k.RoleID, role)) {
			return exists, fmt.Errorf("key %s has name %q and role %q by the API, not those of the record: refusing to act on it", id, k.Name, k.RoleID)
		}
		rot.NewMissingSince = time.Time{}
		return exists, nil
	}
	if !errors.Is(err, apiclient.ErrNotFound) {
		return exists, err
	}
	keys, err := api.ListKeys(ctx)
	if err != nil {
		return exists, fmt.Errorf("list keys: %w", err)
	}
	if i := slices.IndexFunc(keys, func(k apiclient.Key) bool { return k.ID == id }); i >= 0 {
		// The listing that shows the key says whose it is, as a GET would:
		// a create answer that left the name and role out was checked
		// against nothing else (its key, listed under another name, went
		// to the sinks). Without them it proves nothing either way: not
		// sure yet (it is listed: not missing either).
		l := keys[i]
		if l.Name == "" || l.RoleID == "" {
			return unsure, nil
		}
		if l.Name != rec.Name || (role != "" && !sameRoleID(l.RoleID, role)) {
			return exists, fmt.Errorf("key %s has name %q and role %q by the API, not those of the record: refusing to act on it", id, l.Name, l.RoleID)
		}
		rot.NewMissingSince = time.Time{}
		return exists, nil
	}
	now := e.now()
	settle := e.settleTime()
	if rot.NewMissingSince.IsZero() || now.Before(rot.NewMissingSince) {
		rot.NewMissingSince = now
	}
	if now.Before(since.Add(settle)) || now.Before(rot.NewMissingSince.Add(settle)) {
		return unsure, nil
	}
	return gone, nil
}

// getKey asks api for key id; an answer about another key is an error.
// Every field of the API's schema is optional:
// an answer that leaves the key's name or role out says nothing about
// them, and a check of the name and role would take it for another key
// (the deleter then refused an old key and left it alive). Those fields
// are taken from a listing; a key the listing does not show either is an
// error, for the caller to try again, never a key of no name or role.
func getKey(ctx context.Context, api apiclient.API, id string) (apiclient.Key, error) {
	k, err := api.GetKey(ctx, id)
	if err == nil && k.ID != id {
		// An answer about another key says nothing of this one (taken
		// for it, a key of another name went to the sinks).
		return apiclient.Key{}, fmt.Errorf("key %s: the API's answer is about key %s", id, k.ID)
	}
	if err != nil || (k.Name != "" && k.RoleID != "") {
		return k, err
	}
	keys, err := api.ListKeys(ctx)
	if err != nil {
		return k, fmt.Errorf("key %s: the API's answer lacks its name or role, and listing the keys failed: %w", id, err)
	}
	i := slices.IndexFunc(keys, func(l apiclient.Key) bool { return l.ID == id })
	if i < 0 {
		return k, fmt.Errorf("key %s: the API's answer lacks its name or role, and the listing does not show the key", id)
	}
	k.Name = cmp.Or(k.Name, keys[i].Name)
	k.RoleID = cmp.Or(k.RoleID, keys[i].RoleID)
	if k.Name == "" || k.RoleID == "" {
		return k, fmt.Errorf("key %s: the API shows it with no name or no role", id)
	}
	return k, nil
}

// waitErr is a step that cannot go on yet and is no failure: the pass
// reports it as a decision to wait.
type waitErr struct {
	reason Reason
	due    time.Time
}

func (w *waitErr) Error() string { return string(w.reason) }

func asWait(err error) (*waitErr, bool) {
	var w *waitErr
	if errors.As(err, &w) {
		return w, true
	}
	return nil, false
}

// copyOf returns key id with its secret from the first sink, in delivery
// order, that holds it and gives it back; nil when none does.
func (e *Engine) copyOf(ctx context.Context, p Policy, rec *state.Record, id string) *sinks.Credential {
	for _, i := range deliveryOrder(p.Sinks) {
		if h, c := e.holds(ctx, p.Sinks[i], rec, id); h == isHeld && c != nil {
			return c
		}
	}
	return nil
}

// writeTo writes c to the i-th sink of p and reads it back, counting the
// delivery.
func (e *Engine) writeTo(ctx context.Context, p Policy, i int, c sinks.Credential) error {
	s := p.Sinks[i]
	if e.fence != nil {
		if err := e.fence(); err != nil {
			return fmt.Errorf("not writing %s: %w", s.Target(c.Name), err)
		}
	}
	err := s.Write(ctx, c)
	if err == nil {
		err = s.Verify(ctx, c)
	}
	e.sinkWrite(p, sinkLabel(i, s), err == nil)
	return err
}
