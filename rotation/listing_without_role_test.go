package rotation

// A listing is documented as entries of {"key","name","role-id"}, but every
// field of the API's schema is optional. A listing that leaves the role
// out of the key a lost create made (its role not shown yet, or never in
// listings) hid that key from the orphan search, which looks for keys of
// the name and role: the intent was cleared once the settle time passed,
// and the key lived on with nobody holding its secret.

import (
	"context"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient"
)

// roleless lists the keys in blank without their role.
type roleless struct {
	*fakeAPI
	blank map[string]bool
}

func (r *roleless) ListKeys(ctx context.Context) ([]apiclient.Key, error) {
	keys, err := r.fakeAPI.ListKeys(ctx)
	for i := range keys {
		if r.blank[keys[i].ID] {
			keys[i].RoleID = ""
		}
	}
	return keys, err
}

func TestOrphanListedWithoutItsRoleIsStillFound(t *testing.T) {
	orphanOfALostCreateIsFound(t, func(api *fakeAPI, blank map[string]bool) apiclient.API {
		return &roleless{fakeAPI: api, blank: blank}
	})
}

// nameless lists the keys in blank without their name or role.
type nameless struct {
	*fakeAPI
	blank map[string]bool
}

func (r *nameless) ListKeys(ctx context.Context) ([]apiclient.Key, error) {
	keys, err := r.fakeAPI.ListKeys(ctx)
	for i := range keys {
		if r.blank[keys[i].ID] {
			keys[i].Name, keys[i].RoleID = "", ""
		}
	}
	return keys, err
}

// The same with a listing that leaves out the name too: the orphan search,
// which looks for keys of the name, never looked at that key.
func TestOrphanListedWithoutItsNameOrRoleIsStillFound(t *testing.T) {
	orphanOfALostCreateIsFound(t, func(api *fakeAPI, blank map[string]bool) apiclient.API {
		return &nameless{fakeAPI: api, blank: blank}
	})
}

// A key of another name listed without its name is looked up, and left
// alone.
func TestKeyOfAnotherNameListedWithoutItsNameIsLeftAlone(t *testing.T) {
	h := newHarness(t, 0)
	h.api.add("ci-runner", roleCI)
	h.pass(Options{})
	api := &nameless{fakeAPI: h.api, blank: map[string]bool{}}
	h.useAPI(api)
	var other string
	h.api.createHook = func(k apiclient.Key) error {
		// Someone else makes a key of another name and the same role
		// meanwhile; the listing shows it without its name or role.
		other = h.api.add("ci-someone-else", roleCI)
		api.blank[other] = true
		return apiclient.ErrAmbiguousCreate
	}
	h.engine.Pass(context.Background(), []string{"ci"}, Options{Force: true})
	h.api.createHook = nil
	for range 4 {
		h.clock.Add(3 * time.Minute)
		h.engine.Pass(context.Background(), []string{"ci"}, Options{IgnoreBackoff: true})
	}
	if live := h.api.live("ci-someone-else"); len(live) != 1 || live[0] != other {
		t.Errorf("live keys of ci-someone-else %v, want %s left alone", live, other)
	}
}

// orphanOfALostCreateIsFound loses the answer of a create whose key the
// API that wrap makes lists with fields left out (the ids in blank), and
// checks that no key of the name is left alive in no sink and on no record.
func orphanOfALostCreateIsFound(t *testing.T, wrap func(api *fakeAPI, blank map[string]bool) apiclient.API) {
	t.Helper()
	h := newHarness(t, 0)
	old := h.api.add("ci-runner", roleCI)
	h.pass(Options{})
	blank := map[string]bool{}
	h.useAPI(wrap(h.api, blank))
	h.api.createHook = func(k apiclient.Key) error {
		blank[k.ID] = true
		return apiclient.ErrAmbiguousCreate
	}
	h.engine.Pass(context.Background(), []string{"ci"}, Options{Force: true})
	h.api.createHook = nil
	for range 4 {
		h.clock.Add(3 * time.Minute)
		h.engine.Pass(context.Background(), []string{"ci"}, Options{IgnoreBackoff: true})
	}
	r := h.record("ci-runner")
	for _, id := range h.api.live("ci-runner") {
		held := h.sinkA.holds("ci-runner") == id
		if id != old && !held && id != r.CurrentKeyID && (r.Rotation == nil || r.Rotation.NewKeyID != id) {
			t.Errorf("LEAK: key %s of ci-runner is alive, in no sink and on no record (rotation %+v)", id, r.Rotation)
		}
	}
}
