package rotation

// A key deleted but still listed (a zombie: "API Key not in organization"
// for twenty minutes or so) is deleted again once per settle time. With an
// API that leaves the role out of its listings and of its GETs (every field
// of the API's schema is optional), its role cannot be learned: that must
// not cost a GET and a listing of the whole organization at every pass.

import (
	"context"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient"
)

// rolelessEverywhere leaves the role of the keys in blank out of listings
// and GETs alike, and counts the listings.
type rolelessEverywhere struct {
	*roleless
	lists int
}

func (r *rolelessEverywhere) ListKeys(ctx context.Context) ([]apiclient.Key, error) {
	r.lists++
	return r.roleless.ListKeys(ctx)
}

func (r *rolelessEverywhere) GetKey(ctx context.Context, id string) (apiclient.Key, error) {
	k, err := r.fakeAPI.GetKey(ctx, id)
	if r.blank[id] {
		k.RoleID = ""
	}
	return k, err
}

func TestZombieListedWithoutItsRoleCostsNoRequestsAtEveryPass(t *testing.T) {
	h := newHarness(t, 0)
	old := h.api.add("ci-runner", roleCI)
	h.pass(Options{})
	h.api.mu.Lock()
	h.api.zombies = map[string]bool{old: true}
	h.api.mu.Unlock()
	api := &rolelessEverywhere{roleless: &roleless{fakeAPI: h.api, blank: map[string]bool{}}}
	h.useAPI(api)
	h.engine.Pass(context.Background(), []string{"ci"}, Options{Force: true})
	if r := h.record("ci-runner"); !r.Deleted.Has(old) {
		t.Fatalf("the old key %s was not deleted (record %+v)", old, r)
	}
	api.blank[old] = true
	h.clock.Add(h.engine.settleTime() + time.Minute)
	h.engine.Pass(context.Background(), []string{"ci"}, Options{IgnoreBackoff: true})
	h.api.mu.Lock()
	gets0 := h.api.gets
	h.api.mu.Unlock()
	lists0 := api.lists
	const passes = 10
	for range passes {
		h.clock.Add(time.Second)
		h.engine.Pass(context.Background(), []string{"ci"}, Options{IgnoreBackoff: true})
	}
	h.api.mu.Lock()
	gets := h.api.gets - gets0
	h.api.mu.Unlock()
	// One listing a pass is the pass's own.
	if lists := api.lists - lists0; gets > 0 || lists > passes {
		t.Errorf("%d passes within one settle time made %d GETs and %d listings for a zombie whose role the API never says", passes, gets, lists)
	}
}
