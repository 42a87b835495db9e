package rotation

// The orphan search: after a create whose answer was lost (or a crash
// between the intent and the created record), a key may exist whose secret
// nobody has. The invariant kept: such a key is found by the ids the
// intent recorded (any key of the name and role not among them), never by
// the policy's current match and never by comparing clocks; and the intent
// stays on record until a listing taken well after the create (longer
// than its timeout) shows no such key, so a create the API applies late
// is still found.

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/sinks"
	"github.com/rotatord/rotatord/state"
)

// searchOrphans lists the keys and deletes every key rec's intent may have
// created whose secret reached no sink. It returns a *waitErr while the
// search has not settled, and a credential when a sink already holds such
// a key with its secret (the rotation went further than the journal says).
//
// When the only key of the name left is one the intent does not know and a
// sink may hold it, the journal is older than what happened (restored from
// a backup): that key is the current one. It is adopted, and the intent
// cleared: deleting it would leave the name with no key at all.
func (e *Engine) searchOrphans(ctx context.Context, p Policy, rec *state.Record) (*sinks.Credential, error) {
	return e.searchOrphansOf(ctx, p, rec, rec.Rotation, false, nil)
}

// searchListing is a listing of every key taken after an intent's create
// was answered, when it was taken (this process's clock) and the API's
// clock in its answer (zero without a Date).
type searchListing struct {
	keys                []apiclient.Key
	listedAt, serverNow time.Time
}

// searchOrphansOf is searchOrphans for the intent rot of rec: rec.Rotation,
// or (retried) rec.RetriedCreate, the intent of a create whose earlier
// attempts were answered 429 and whose new key (rot.NewKeyID) was
// delivered, or is being delivered. A retried search never resumes from a
// sink nor adopts a key: the new key is rot.NewKeyID, and a key a sink
// holds, or may hold, is not deleted (the search stays open). given, when
// not nil, is the listing to search, taken after the create was answered;
// otherwise the search lists the keys itself.
func (e *Engine) searchOrphansOf(ctx context.Context, p Policy, rec *state.Record, rot *state.Rotation, retried bool, given *searchListing) (*sinks.Credential, error) {
	api := e.client()
	role := rot.RoleID
	if role == "" {
		role = rec.RoleID
	}
	if err := unsearchable(rec, rot); err != nil {
		return nil, err
	}
	var keys []apiclient.Key
	var listedAt, serverNow time.Time
	if given != nil {
		keys, listedAt, serverNow = given.keys, given.listedAt, given.serverNow
	} else {
		listedAt = e.now()
		lctx, server := apiclient.WithServerClock(ctx)
		var err error
		if keys, err = api.ListKeys(lctx); err != nil {
			return nil, fmt.Errorf("list keys: %w", err)
		}
		serverNow = server.Now()
	}
	firstListed := e.firstSearched(p.Name, rec.Name, rot.StartedAt, listedAt)
	own := e.own()
	// A key of the name listed without its role, or a key listed without
	// its name (every field of the API's schema is optional), may be the
	// one the create made: its name and role are asked for by GET. One
	// whose name or role stays unknown holds the search open.
	keys, unsure := e.withRoles(ctx, keys, rec, rot, own)
	found, deleted := 0, 0
	var blocked []error
	var blockedIDs []string
	knownLive := false
	for _, k := range keys {
		if k.Name == rec.Name && sameRoleID(k.RoleID, role) && slices.Contains(rot.KnownKeyIDs, k.ID) {
			if gone := rec.Deleted.Has(k.ID); !gone {
				knownLive = true
			}
		}
	}
	for _, k := range keys {
		if k.Name != rec.Name || !sameRoleID(k.RoleID, role) || k.ID == own || k.ID == rec.CurrentKeyID || (rot.NewKeyID != "" && k.ID == rot.NewKeyID) ||
			slices.Contains(rot.KnownKeyIDs, k.ID) || slices.Contains(rot.OldKeyIDs, k.ID) || !p.Match(k.Name, k.RoleID) {
			continue
		}
		if gone := rec.Deleted.Has(k.ID); gone {
			continue
		}
		if other := e.managedElsewhere(p, k, nil); other != "" {
			_ = e.refuseManagedElsewhere(p, rec, k.ID, other)
			continue
		}
		found++
		// A sink that holds the key proves the rotation went further than
		// the journal says: resume from it if it gives the secret back.
		var cred *sinks.Credential
		for _, s := range p.Sinks {
			if retried {
				break // blocksDeletion, below, keeps a key a sink holds
			}
			if h, c := e.holds(ctx, s, rec, k.ID); h == isHeld && c != nil {
				cred = c
				break
			}
		}
		if cred != nil {
			return cred, nil
		}
		if err := e.blocksDeletion(ctx, p, rec, k.ID); err != nil {
			blocked = append(blocked, err)
			blockedIDs = append(blockedIDs, k.ID)
			continue
		}
		if err := api.DeleteKey(ctx, k.ID); err != nil {
			return nil, fmt.Errorf("delete orphan %s: %w", k.ID, err)
		}
		deleted++
		noteDeleted(rec, k.ID, e.now())
		e.orphanDeleted(p)
		e.log.Warn("deleted key created without a delivered secret",
			zap.String("policy", p.Name), zap.String("name", rec.Name), zap.String("key_id", k.ID))
	}
	if len(blocked) > 0 {
		if !retried && !knownLive && deleted == 0 && len(blockedIDs) == 1 {
			e.log.Warn("the intent's keys are all gone and the one key left may be held by a sink: the journal is older than what happened; adopting that key",
				zap.String("policy", p.Name), zap.String("name", rec.Name), zap.String("key_id", blockedIDs[0]))
			rec.CurrentKeyID = blockedIDs[0]
			rec.CurrentSince = listedAt
			rec.Rotation = nil
			return nil, nil
		}
		return nil, fmt.Errorf("unknown key of the name not deleted: %w", blocked[0])
	}
	// One create makes one key: once it is found and deleted, the search
	// is over. Otherwise only a listing taken after the settle time proves
	// the create made none.
	// A retried create may have made a key at each answered attempt: only
	// the settle time ends its search.
	if deleted > 0 && found == deleted && !retried {
		return nil, nil
	}
	if unsure != "" {
		e.log.Info("a key is listed without its name, or of the name without its role, and the API does not say it: looking again at the next pass",
			zap.String("policy", p.Name), zap.String("name", rec.Name), zap.String("key_id", unsure))
		return nil, &waitErr{reason: ReasonCreateSettle}
	}
	// A key of the name that the pass's own listing showed (the record's
	// first sightings) and the intent does not know, missing from this
	// listing: one of the two lags, and no clock says which (the settle
	// time is counted on the clock of the process that wrote the intent,
	// which may differ from this one's). The search goes on at the next
	// pass rather than conclude that the create made no key.
	listed := make(map[string]bool, len(keys))
	for _, k := range keys {
		listed[k.ID] = true
	}
	for _, s := range rec.FirstSeen {
		if !listed[s.ID] && s.ID != own && s.ID != rec.CurrentKeyID && s.ID != rot.NewKeyID && !rec.Deleted.Has(s.ID) &&
			!slices.Contains(rot.KnownKeyIDs, s.ID) && !slices.Contains(rot.OldKeyIDs, s.ID) {
			e.log.Info("a key of the name the pass listed is missing from the orphan search's listing: looking again at the next pass",
				zap.String("policy", p.Name), zap.String("name", rec.Name), zap.String("key_id", s.ID))
			return nil, &waitErr{reason: ReasonCreateSettle}
		}
	}
	due := rot.StartedAt.Add(e.settleTime())
	// The settle time on the API's clock too: the intent's time is the
	// clock of the process that wrote it, and a restart with a clock ahead
	// would find it long over at its first look, before a create the API
	// applies late shows. The first search's answer is after the create
	// was sent, on a clock no restart moves (its Date has whole seconds:
	// one more). A listing this process takes the settle time after its
	// own first one proves it as well, on this process's clock alone: an
	// API whose Date never moves does not hold the search for good.
	firstSearch := false
	if !serverNow.IsZero() {
		if rot.SearchFrom.IsZero() || serverNow.Before(rot.SearchFrom) {
			rot.SearchFrom, firstSearch = serverNow, true
		}
		if left := rot.SearchFrom.Add(e.settleTime() + time.Second).Sub(serverNow); left > 0 {
			ownDue := firstListed.Add(e.settleTime() + time.Second)
			if apiDue := listedAt.Add(left); apiDue.Before(ownDue) {
				ownDue = apiDue
			}
			due = later(due, ownDue)
		}
	}
	if listedAt.Before(due) {
		if deleted > 0 || firstSearch {
			if err := e.store.Put(*rec); err != nil {
				return nil, err
			}
		}
		return nil, &waitErr{reason: ReasonCreateSettle, due: due}
	}
	return nil, nil
}

// unsearchable says why the orphan search of intent rot of rec will not
// run (nil when it will): an intent always lists the keys it replaces,
// with the role of the name's current key. A record that says otherwise
// was edited or is damaged, or (a retried create's search, kept after its
// rotation) the name's key was replaced since by one of another role:
// searching with it could aim a deletion at another key. Nothing but an
// edit of the record makes such a search run again (Stranded does not
// wait for it).
func unsearchable(rec *state.Record, rot *state.Rotation) error {
	role := rot.RoleID
	if role == "" {
		role = rec.RoleID
	}
	if !sameRoleID(role, rec.RoleID) || len(rot.KnownKeyIDs)+len(rot.OldKeyIDs) == 0 {
		return fmt.Errorf("the intent does not match the record (role %s, current key's role %s, %d known keys): not searching for its key; check the state record",
			role, rec.RoleID, len(rot.KnownKeyIDs)+len(rot.OldKeyIDs))
	}
	return nil
}

// withRoles returns keys with the role of each key of rec's name that the
// listing shows without one, and the name and role of each key it shows
// without a name, that the intent does not know, taken from a GET of it
// (or from e.keyFacts: asked once, not at every search);
// and the id of one whose name or role stays unknown ("" if none). keys
// is not changed.
func (e *Engine) withRoles(ctx context.Context, keys []apiclient.Key, rec *state.Record, rot *state.Rotation, own string) ([]apiclient.Key, string) {
	unsure := ""
	var out []apiclient.Key
	e.mu.Lock()
	facts := maps.Clone(e.keyFacts)
	e.mu.Unlock()
	learned := map[string]apiclient.Key{}
	defer func() {
		// Only the keys this listing shows are kept: a key gone is
		// forgotten.
		e.mu.Lock()
		defer e.mu.Unlock()
		next := map[string]apiclient.Key{}
		for _, k := range keys {
			if f, ok := learned[k.ID]; ok {
				next[k.ID] = f
			} else if f, ok := e.keyFacts[k.ID]; ok {
				next[k.ID] = f
			}
		}
		e.keyFacts = next
	}()
	for i, k := range keys {
		// A key listed without its name may be of rec's name too: the key
		// a lost create made, listed so, was never looked for and lived on
		// with nobody holding its secret.
		if (k.Name != "" && (k.Name != rec.Name || k.RoleID != "")) || k.ID == own || k.ID == rec.CurrentKeyID || rec.Deleted.Has(k.ID) ||
			(rot.NewKeyID != "" && k.ID == rot.NewKeyID) ||
			slices.Contains(rot.KnownKeyIDs, k.ID) || slices.Contains(rot.OldKeyIDs, k.ID) {
			continue
		}
		if out == nil {
			out = slices.Clone(keys)
		}
		g, ok := facts[k.ID]
		var err error
		if !ok {
			g, err = e.client().GetKey(ctx, k.ID)
		}
		if err != nil || g.ID != k.ID || (k.Name != "" && g.Name != "" && g.Name != k.Name) {
			unsure = k.ID
			continue
		}
		name, role := cmp.Or(k.Name, g.Name), cmp.Or(k.RoleID, g.RoleID)
		if name == "" || (name == rec.Name && role == "") {
			unsure = k.ID
			continue
		}
		if g.Name != "" && g.RoleID != "" {
			learned[k.ID] = apiclient.Key{ID: k.ID, Name: g.Name, RoleID: g.RoleID}
		}
		out[i].Name, out[i].RoleID = name, role
	}
	if out == nil {
		return keys, unsure
	}
	return out, unsure
}

// searchDue returns when the orphan search of rot's intent may end, for a
// pass whose listing was taken at listedAt and answered with the API's
// clock at serverNow (zero: no Date): the settle time from the intent on
// this host's clock and, when the API's is known, from the first search
// on the API's clock (from this listing for a search not begun yet, or
// after that clock stepped back), as searchOrphans counts them. plan
// shows it: a process that searched itself may end the search sooner,
// the settle time after its own first search.
func (e *Engine) searchDue(rot *state.Rotation, listedAt, serverNow time.Time) time.Time {
	settle := e.settleTime()
	due := rot.StartedAt.Add(settle)
	if !serverNow.IsZero() {
		from := rot.SearchFrom
		if from.IsZero() || serverNow.Before(from) {
			from = serverNow
		}
		if left := from.Add(settle + time.Second).Sub(serverNow); left > 0 {
			due = later(due, listedAt.Add(left))
		}
	}
	return due
}

// firstSearched returns when this process first listed the keys in the
// orphan search of the intent of policy's name started at startedAt: now
// if it never did. That listing came after the intent's create was sent.
func (e *Engine) firstSearched(policy, name string, startedAt, now time.Time) time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	k := recordKey{policy, name}
	if s, ok := e.searched[k]; ok && s[0].Equal(startedAt) {
		return s[1]
	}
	e.searched[k] = [2]time.Time{startedAt, now}
	return now
}
