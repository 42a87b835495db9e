package rotation

import (
	"context"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/sinks"
)

// ownRoleHidden is the own-key harness's API whose listings leave the
// role of key blank out, and whose GET of it fails (a 503) while failGet,
// or gives no role either while blankGet.
type ownRoleHidden struct {
	*signedAPI
	blank             string
	failGet, blankGet bool
}

func (r *ownRoleHidden) GetKey(ctx context.Context, id string) (apiclient.Key, error) {
	if id == r.blank && r.failGet {
		return apiclient.Key{}, &apiclient.Error{Kind: apiclient.KindUnavailable, Status: 503, Message: "unavailable"}
	}
	k, err := r.signedAPI.GetKey(ctx, id)
	if id == r.blank && r.blankGet {
		k.RoleID = ""
	}
	return k, err
}

func (r *ownRoleHidden) ListKeys(ctx context.Context) ([]apiclient.Key, error) {
	keys, err := r.signedAPI.ListKeys(ctx)
	for i := range keys {
		if keys[i].ID == r.blank {
			keys[i].RoleID = ""
		}
	}
	return keys, err
}

// The first pass of a process (no listing has noted the own key's role
// yet) whose listing shows the key rotatord signs with without its role,
// while its GET fails once (a 503) or gives no role either. A second own
// key is alive, listed with its role: the one the own key's record names
// as current (the store holds a newer key, as after an own rotation a
// journal restored from an older copy does not have). The pass took the
// own key's role as none, so the other own key, of the real role, was no
// longer the own key's: the own-key policy saw its current key gone and
// rotated, a third live key of the own name.
func TestOwnKeyListedWithoutRoleOnTheFirstPassDoesNotMakeAThirdOwnKey(t *testing.T) {
	t.Run("its GET fails", func(t *testing.T) { ownKeyRoleUnknownFirstPass(t, true) })
	t.Run("its GET gives no role", func(t *testing.T) { ownKeyRoleUnknownFirstPass(t, false) })
}

func ownKeyRoleUnknownFirstPass(t *testing.T, fail bool) {
	sh := newSelfHarness(t, time.Hour)
	h := sh.harness
	cur := sh.own
	sh.pass(Options{}) // the own key's record: current is cur
	k, err := h.api.CreateKey(context.Background(), "rotatord-admin", h.api.keys[cur].RoleID)
	if err != nil {
		t.Fatal(err)
	}
	sh.store.held["rotatord-admin"] = sinks.Credential{Name: "rotatord-admin", KeyID: k.ID, Secret: k.Secret}
	sh.restart(k.ID)
	issued := len(h.api.issued)

	api := &ownRoleHidden{signedAPI: sh.sapi, blank: k.ID, failGet: fail, blankGet: !fail}
	sh.restartWith(api, api)
	sh.pass(Options{})
	if n := len(h.api.issued) - issued; n != 0 || h.api.maxLive > 2 {
		t.Errorf("%d own keys created, %d live at once (%v), want none created and at most 2", n, h.api.maxLive, sh.liveAdmin())
	}
	// The API says the role again: the own keys are sorted out as
	// before, with no third key.
	api.failGet, api.blankGet = false, false
	for range 3 {
		h.clock.Add(2 * time.Hour)
		sh.pass(Options{})
		h.engine.DeleteDue(context.Background())
	}
	if h.api.maxLive > 2 {
		t.Errorf("%d live keys of the own name at once, want at most 2 (now %v)", h.api.maxLive, sh.liveAdmin())
	}
	if live := sh.liveAdmin(); !contains(live, sh.sapi.signing()) || sh.store.holds("rotatord-admin") != sh.sapi.signing() {
		t.Errorf("own keys %v, signing with %s, the store holds %s", live, sh.sapi.signing(), sh.store.holds("rotatord-admin"))
	}
}
