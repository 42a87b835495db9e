package rotation

import (
	"context"
	"fmt"
	"strings"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/state"
)

// sameOrganization refuses a listing that shares nothing with the journal:
// not one key the journal names (current, new, old), not one role its
// records name. The credential is then of another organization than the
// journal's (a staging credential file copied over production's, two
// accounts' secrets swapped, a state directory restored onto another
// host), and a pass would adopt that organization's keys into this
// journal and this policy's sinks, rotate them and delete its consumers'
// keys after the grace period. Role ids are unique across organizations,
// and so are key ids, so one shared id is enough to go on.
//
// It checks once per credential (the key rotatord signs with): what it
// reads is the whole journal, and a credential changes only at a reload
// or an own-key rotation, whose new key the next listing shares. A
// journal with no record, or a listing that gives no role (an API that
// leaves roles out) with no recorded key listed, cannot tell, and goes on.
//
// own is the key the listing was signed with, taken with the client that
// listed (clientOwn): a reload that lands while the listing is on the
// wire puts another credential in force, which that listing says nothing
// about.
func (e *Engine) sameOrganization(keys []apiclient.Key, policies []Policy, own string) error {
	if e.organizationCheckedFor(own) {
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
	for _, p := range policies {
		eachRecord(e.store, p.Name, func(r *state.Record) {
			if shared {
				return
			}
			records++
			shared = listedKeys[r.CurrentKeyID] || r.RoleID != "" && listedRoles[normRoleID(r.RoleID)]
			if rot := r.Rotation; rot != nil && !shared {
				shared = listedKeys[rot.NewKeyID] || rot.RoleID != "" && listedRoles[normRoleID(rot.RoleID)]
				for _, id := range rot.OldKeyIDs {
					shared = shared || listedKeys[id]
				}
			}
		})
	}
	if !shared && records > 0 && len(listedRoles) > 0 {
		cred := "the credential"
		if own != "" {
			cred = "the credential (key " + own + ")"
		}
		return fmt.Errorf("list keys: the listing shares no key and no role with the %d records of the journal: %s is of another organization than the journal's; nothing is rotated or deleted. Put back the credential of the journal's organization, or, to manage this organization, give this account a state directory of its own", records, cred)
	}
	e.mu.Lock()
	e.organizationChecked, e.organizationFor = true, own
	e.mu.Unlock()
	return nil
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
func (e *Engine) organizationBeforeDeleting(ctx context.Context, policies []Policy) error {
	api, own := e.clientOwn()
	if e.organizationCheckedFor(own) {
		return nil
	}
	keys, err := api.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("list keys to check the credential's organization before deleting: %w", err)
	}
	if err := e.otherAccountListed(keys); err != nil {
		return err
	}
	return e.sameOrganization(keys, policies, own)
}

// normRoleID is a role id as compared: the API's ids are lowercase UUIDs,
// and some stand-ins answer them in upper case (sameRoleID).
func normRoleID(id string) string { return strings.ToLower(id) }
