package rotation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/state"
)

// sameOrganization refuses a listing of another organization than the
// journal's: the credential is then not the journal's (a staging
// credential file copied over production's, two accounts' secrets
// swapped, a state directory restored onto another host), and a pass
// would adopt that organization's keys into this journal and this
// policy's sinks, rotate them and delete its consumers' keys after the
// grace period. Key ids and role ids are unique across organizations:
//
//   - a listing that shows a key the journal names (current, new, old)
//     or a key of a role its records name is the journal's organization;
//   - else (every key the journal knows deleted, by hand say, and no key
//     left of its roles) the organization's roles are listed: one of the
//     journal's roles among them is enough. None is refused.
//
// A journal with no record, or no role on record, cannot tell, and goes
// on; so does a roles listing the API does not serve (not found: a
// stand-in). A roles listing the credential may not read (refused: its
// role does not allow list-iam-roles, which rotatord does not otherwise
// need) fails the pass, saying so: that is what a least-privilege
// credential of another organization answers, and going on adopted that
// organization's keys. So does a roles listing that fails otherwise
// (unavailable, rate limited); the pass is tried again.
//
// It checks once per credential (the key rotatord signs with): what it
// reads is the whole journal, and a credential changes only at a reload
// or an own-key rotation, whose new key the next listing shares.
//
// own is the key the listing was signed with, taken with the client that
// listed (clientOwn): a reload that lands while the listing is on the
// wire puts another credential in force, which that listing says nothing
// about.
func (e *Engine) sameOrganization(ctx context.Context, api apiclient.API, keys []apiclient.Key, own string) error {
	if e.organizationCheckedFor(own) {
		return nil
	}
	if credentialOnRecord(e.store, own) {
		e.markOrganizationChecked(own)
		return nil
	}
	listedKeys := make(map[string]bool, len(keys))
	listedRoles := map[string]bool{}
	for _, k := range keys {
		listedKeys[k.ID] = true
		if k.RoleID != "" {
			listedRoles[normRoleID(k.RoleID)] = true
		}
	}
	records, shared := 0, false
	recordedRoles := map[string]bool{}
	noteRole := func(id string) bool {
		if id == "" {
			return false
		}
		id = normRoleID(id)
		recordedRoles[id] = true
		return listedRoles[id]
	}
	// Every record, of the policies in force or not: a renamed policy's
	// records stay under its old name until its names are adopted again,
	// and are the journal's organization's as much.
	policies, _ := e.snapshotPolicies()
	inForce := make(map[string]bool, len(policies))
	for _, p := range policies {
		inForce[p.Name] = true
	}
	gone := map[string]bool{} // policies not in force with records
	eachRecord(e.store, "", func(r *state.Record) {
		if shared || r.Policy == state.OrganizationPolicy {
			return
		}
		records++
		if !inForce[r.Policy] {
			gone[r.Policy] = true
		}
		shared = listedKeys[r.CurrentKeyID] || noteRole(r.RoleID)
		if rot := r.Rotation; rot != nil && !shared {
			shared = listedKeys[rot.NewKeyID] || noteRole(rot.RoleID)
			for _, id := range rot.OldKeyIDs {
				shared = shared || listedKeys[id]
			}
		}
	})
	if !shared && records > 0 && len(recordedRoles) > 0 {
		roles, err := api.ListRoles(ctx)
		var ae *apiclient.Error
		switch {
		case err == nil:
			for _, r := range roles {
				shared = shared || recordedRoles[normRoleID(r.ID)]
			}
			if !shared {
				cred := "the credential"
				if own != "" {
					cred = "the credential (key " + own + ")"
				}
				return fmt.Errorf("list keys: the organization has none of the %d roles, and lists none of the keys, of the %d records of the journal: %s is of another organization than the journal's; nothing is rotated or deleted. Put back the credential of the journal's organization, or, to manage this organization, give this account a state directory of its own%s", len(recordedRoles), records, cred, goneHint(gone))
			}
		case errors.As(err, &ae) && ae.Kind == apiclient.KindAuth:
			// The credential may not list the roles. list-iam-roles is not
			// among the operations rotatord asks of its role, so this is
			// what a least-privilege credential of another organization
			// answers: going on would adopt that organization's keys into
			// this journal's sinks and delete its consumers' keys. Refused,
			// and asked again at the next pass.
			return fmt.Errorf("list keys: the listing has none of the keys, and no key of the %d roles, of the %d records of the journal, and the credential may not list the organization's roles to tell: it may be of another organization than the journal's; nothing is rotated or deleted. If the credential is the journal's, allow list-iam-roles to its role (or the journal's keys were all deleted: a key of one of its roles made again is enough); else put back the credential of the journal's organization%s: %w", len(recordedRoles), records, goneHint(gone), err)
		case errors.As(err, &ae) && ae.Kind == apiclient.KindNotFound:
			// Roles not served (a stand-in): cannot tell, going on, and
			// asking again at the next pass.
			return forgetCredentials(e.store)
		default:
			return fmt.Errorf("list keys: none of the journal's keys and roles listed; listing the roles to tell whether the credential is of the journal's organization: %w", err)
		}
	}
	if shared {
		// Found of the journal's organization, not merely unable to
		// tell: remembered, so that a later listing sharing nothing (the
		// journal's roles deleted, its names made again under others)
		// does not refuse this credential for good.
		// A journal that cannot take it (opened read-only by plan, or
		// failing) costs the next process one more check, no more.
		if err := recordCredential(e.store, own, e.now()); err != nil && !errors.Is(err, state.ErrReadOnly) {
			e.log.Warn("could not record the credential found of the journal's organization; the next process checks it again", zap.String("key_id", own), zap.Error(err))
		}
	} else if err := forgetCredentials(e.store); err != nil {
		return err
	}
	e.markOrganizationChecked(own)
	return nil
}

// goneHint names the policies not in force whose records a refusal
// read: a removed policy's records stay in the journal, and its roles,
// deleted with it since, look like another organization's to the check
// (which cannot tell them from a renamed policy's records read with
// another organization's credential).
func goneHint(gone map[string]bool) string {
	if len(gone) == 0 {
		return ""
	}
	names := make([]string, 0, len(gone))
	for n := range gone {
		names = append(names, fmt.Sprintf("%q", n))
	}
	slices.Sort(names)
	return fmt.Sprintf(" (records of policies no longer in force (%s) count too: if this credential is the journal's and their roles were deleted, remove those records: state export, then state import into an empty state directory)", firstFive(names))
}

func (e *Engine) markOrganizationChecked(own string) {
	e.mu.Lock()
	e.organizationChecked, e.organizationFor = true, own
	if e.organizationRefusedFor == own {
		// A pass found it: the deleter's failures before are over.
		e.organizationRefusals = 0
	}
	e.mu.Unlock()
}

// maxCheckedCredentials bounds the organization record: a credential
// rotated daily leaves one entry a day, and only the credentials in force
// lately matter.
const maxCheckedCredentials = 16

// credentialOnRecord reports whether the journal remembers own as found
// of its organization. Key ids are unique across organizations: that
// stays true.
func credentialOnRecord(j state.Journal, own string) bool {
	if own == "" {
		return false
	}
	r, ok := j.Get(state.OrganizationPolicy, state.OrganizationName)
	return ok && r.CheckedCredentials.Has(own)
}

// forgetCredentials forgets the credentials remembered, when a check goes
// on without telling (an empty journal, no role on record, roles not
// served): the journal may take another organization's names from then
// on, and a credential found of its organization before is no longer
// known to be of the organization of its records (the journal of an
// organization whose keys were all deleted, its names forgotten, then
// given another organization's credential). A journal opened read-only
// keeps them; one that cannot forget them fails the pass, which is tried
// again, rather than go on with them.
func forgetCredentials(j state.Journal) error {
	if !j.Has(state.OrganizationPolicy, state.OrganizationName) {
		return nil
	}
	if err := j.Delete(state.OrganizationPolicy, state.OrganizationName); err != nil && !errors.Is(err, state.ErrReadOnly) {
		return fmt.Errorf("list keys: the journal cannot tell the credential's organization, and could not forget the credentials it found of its organization before: %w", err)
	}
	return nil
}

// recordCredential remembers own as found of the journal's organization,
// dropping the oldest entries past maxCheckedCredentials.
func recordCredential(j state.Journal, own string, at time.Time) error {
	if own == "" {
		return nil
	}
	r, ok := j.Get(state.OrganizationPolicy, state.OrganizationName)
	if !ok {
		r = state.Record{Policy: state.OrganizationPolicy, Name: state.OrganizationName}
	}
	if r.CheckedCredentials.Has(own) {
		return nil
	}
	r.CheckedCredentials.Set(own, at.UTC())
	for len(r.CheckedCredentials) > maxCheckedCredentials {
		oldest := r.CheckedCredentials[0]
		for _, c := range r.CheckedCredentials[1:] {
			if c.At.Before(oldest.At) {
				oldest = c
			}
		}
		r.CheckedCredentials.Delete(oldest.ID)
	}
	return j.Put(r)
}

// organizationCheckedFor reports whether a listing signed with own was
// found to share a key or a role with the journal.
func (e *Engine) organizationCheckedFor(own string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.organizationChecked && e.organizationFor == own
}

// clientOwn returns the API client in force and the key it signs with,
// taken together: a reload swaps both.
func (e *Engine) clientOwn() (apiclient.API, string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.api, e.ownKeyID
}

// organizationBeforeDeleting is sameOrganization for the deleter, which
// runs without a pass's listing, before any pass of a process (a restart)
// or after a reload changed the credential: with another organization's
// credential, the journal's new keys are gone from its listings, and the
// deleter took them as vanished during the grace period, clearing the
// rotations and forgetting their old keys, still live in the journal's
// organization. Once per credential, as for a pass, it lists the keys.
// It returns the key of the credential it checked: a handler that lets a
// reload through (its hooks run outside the install lock) goes on only
// while that credential is still in force (credentialChecked).
//
// A check that fails backs off like a failed step (Backoff, at most
// maxOrganizationBackoff): the deleter's rounds come every few seconds,
// and each refused every due name with a warning. Meanwhile the names
// wait (a *waitErr). Another credential (a reload) is checked at once;
// so is this one once a pass found it of the journal's organization.
func (e *Engine) organizationBeforeDeleting(ctx context.Context) (string, error) {
	api, own := e.clientOwn()
	if e.organizationCheckedFor(own) {
		return own, nil
	}
	if due, waiting := e.organizationBackoff(own); waiting {
		return own, &waitErr{reason: ReasonBackoff, due: due}
	}
	err := e.checkOrganizationBeforeDeleting(ctx, api, own)
	e.mu.Lock()
	if err == nil || e.organizationRefusedFor != own {
		e.organizationRefusedFor, e.organizationRefusals = own, 0
	}
	if err != nil && ctx.Err() == nil {
		// A round cancelled (a stop, leadership lost) refused nothing:
		// the next one checks at once.
		e.organizationRefusals++
		e.organizationRefusedAt = e.now()
	}
	e.mu.Unlock()
	return own, err
}

// maxOrganizationBackoff bounds the deleter's wait after failed checks: a
// listing that failed for an outage holds the due deletions back that
// long after the API is back (a pass that lists in between lets them go
// at once).
const maxOrganizationBackoff = 15 * time.Minute

// organizationBackoff returns when the deleter may check own again, and
// whether that is still to come.
func (e *Engine) organizationBackoff(own string) (time.Time, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.organizationRefusedFor != own || e.organizationRefusals == 0 {
		return time.Time{}, false
	}
	due := e.organizationRefusedAt.Add(min(Backoff(e.organizationRefusals), maxOrganizationBackoff))
	return due, e.now().Before(due)
}

func (e *Engine) checkOrganizationBeforeDeleting(ctx context.Context, api apiclient.API, own string) error {
	keys, err := api.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("list keys to check the credential's organization before deleting: %w", err)
	}
	if err := e.otherAccountListed(keys); err != nil {
		return err
	}
	return e.sameOrganization(ctx, api, keys, own)
}

// credentialChecked reports whether the credential in force is still the
// one whose organization was checked (own, from organizationBeforeDeleting).
func (e *Engine) credentialChecked(own string) bool {
	_, now := e.clientOwn()
	return now == own
}

// normRoleID is a role id as compared: the API's ids are lowercase UUIDs,
// and some stand-ins answer them in upper case (sameRoleID).
func normRoleID(id string) string { return strings.ToLower(id) }
