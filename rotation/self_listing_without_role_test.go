package rotation

// rotatord's own key, when the create answer leaves its name or role out,
// goes to its store only once a listing signed with the new key shows it
// with the own key's name and role. Every field of the API's schema is
// optional, listings' too: a signed listing that left the new key's role
// out was read as a key of role "", the key was deleted again and the
// rotation failed (each attempt against such listings created a key and
// deleted it).

import (
	"context"
	"testing"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/sinks"
)

// rolelessSigned answers creates with the key's id and secret only, and
// its listings signed with a given credential (ListAs) leave the roles
// out; its GET shows everything.
type rolelessSigned struct{ *signedAPI }

func (a *rolelessSigned) CreateKey(ctx context.Context, name, roleID string) (apiclient.CreatedKey, error) {
	k, err := a.signedAPI.CreateKey(ctx, name, roleID)
	k.Name, k.RoleID = "", ""
	return k, err
}

// ListAs implements SelfLister, as the daemon's credential does.
func (a *rolelessSigned) ListAs(ctx context.Context, c sinks.Credential) ([]apiclient.Key, error) {
	if err := a.Check(ctx, c); err != nil {
		return nil, err
	}
	keys, err := a.ListKeys(ctx)
	for i := range keys {
		keys[i].RoleID = ""
	}
	return keys, err
}

func TestSelfRotationWithASignedListingWithoutRoles(t *testing.T) {
	sh := newSelfHarness(t, 0)
	old := sh.own
	api := &rolelessSigned{sh.sapi}
	sh.restartWith(api, api)
	out := sh.pass(Options{Force: true})
	if o, ok := outcomeOf(out, "_self"); !ok || o.Err != nil {
		t.Fatalf("own-key outcome %+v (found %v)", o, ok)
	}
	now := sh.store.holds("rotatord-admin")
	if now == old || now == "" {
		t.Fatalf("the store holds %q, want a new key", now)
	}
	if sh.sapi.signing() != now {
		t.Errorf("signing with %s, want the new key %s", sh.sapi.signing(), now)
	}
	if live := sh.liveAdmin(); len(live) != 1 || live[0] != now {
		t.Errorf("live own keys %v, want only %s", live, now)
	}
	if n := len(sh.api.issued); n != 1 {
		t.Errorf("%d keys created, want 1", n)
	}
}
