package rotation

// A create answer that leaves the key's name and role out is taken as the
// request's, and the key is looked up before any sink gets it. When the
// GET of a key made a moment ago answers not found (it lags), a listing
// that shows the key decides that it exists: it must show the key with
// the name and role of the request too, or the key goes to no sink.

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient"
)

// otherNameTerse makes the key under another name, answers the create
// without the name or role, and its GET of the new key lags.
type otherNameTerse struct{ *fakeAPI }

func (a *otherNameTerse) CreateKey(ctx context.Context, name, roleID string) (apiclient.CreatedKey, error) {
	k, err := a.fakeAPI.CreateKey(ctx, "ci-someone-else", roleID)
	if err != nil {
		return k, err
	}
	a.mu.Lock()
	if a.getLag == nil {
		a.getLag = map[string]bool{}
	}
	a.getLag[k.ID] = true
	a.mu.Unlock()
	k.Name, k.RoleID = "", ""
	return k, nil
}

func TestCreateAnswerWithoutNameListedUnderAnotherNameIsNotDelivered(t *testing.T) {
	h := newHarness(t, 0)
	old := h.api.add("ci-runner", roleCI)
	h.pass(Options{})
	h.useAPI(&otherNameTerse{h.api})
	h.engine.Pass(context.Background(), []string{"ci"}, Options{Force: true})
	for range 2 {
		h.clock.Add(3 * time.Minute)
		h.engine.Pass(context.Background(), []string{"ci"}, Options{IgnoreBackoff: true})
	}
	for _, s := range []*memSink{h.sinkA, h.sinkB} {
		if held := s.holds("ci-runner"); held != "" && held != old {
			t.Errorf("a sink of ci-runner holds %s, a key the API lists under the name ci-someone-else", held)
		}
	}
}

// lagThenRoleless: the GET of each new key lags, and the first listing
// after the create shows it without its role.
type lagThenRoleless struct {
	*roleless
	lists int
}

func (a *lagThenRoleless) CreateKey(ctx context.Context, name, roleID string) (apiclient.CreatedKey, error) {
	k, err := a.fakeAPI.CreateKey(ctx, name, roleID)
	if err != nil {
		return k, err
	}
	a.mu.Lock()
	if a.getLag == nil {
		a.getLag = map[string]bool{}
	}
	a.getLag[k.ID] = true
	a.mu.Unlock()
	a.blank[k.ID] = true
	a.lists = 0
	return k, nil
}

func (a *lagThenRoleless) ListKeys(ctx context.Context) ([]apiclient.Key, error) {
	a.lists++
	if a.lists > 1 {
		clear(a.blank)
	}
	return a.roleless.ListKeys(ctx)
}

// A listing that shows the new key without its role says nothing either
// way: the next look decides, and the key is not rolled back for it.
func TestNewKeyListedWithoutItsRoleWhileItsGETLagsIsLookedAtAgain(t *testing.T) {
	h := newHarness(t, 0)
	old := h.api.add("ci-runner", roleCI)
	h.pass(Options{})
	h.useAPI(&lagThenRoleless{roleless: &roleless{fakeAPI: h.api, blank: map[string]bool{}}})
	h.engine.Pass(context.Background(), []string{"ci"}, Options{Force: true})
	held := h.sinkA.holds("ci-runner")
	if held == "" || held == old {
		r := h.record("ci-runner")
		t.Fatalf("the sink holds %q, want the new key (last error %q)", held, r.LastError)
	}
	if n := len(h.api.issued); n != 1 {
		t.Errorf("%d keys created, want 1", n)
	}
}

// otherNameTerseWrongGet makes the key under another name, answers the
// create without the name or role, and answers a GET of the new key with
// another key (old, of the request's name and role).
type otherNameTerseWrongGet struct {
	*fakeAPI
	newID, old string
}

func (a *otherNameTerseWrongGet) CreateKey(ctx context.Context, name, roleID string) (apiclient.CreatedKey, error) {
	k, err := a.fakeAPI.CreateKey(ctx, "ci-someone-else", roleID)
	a.newID = k.ID
	k.Name, k.RoleID = "", ""
	return k, err
}

func (a *otherNameTerseWrongGet) GetKey(ctx context.Context, id string) (apiclient.Key, error) {
	if id == a.newID {
		id = a.old
	}
	return a.fakeAPI.GetKey(ctx, id)
}

// A GET answer about another key than the one asked for says nothing of
// the key asked for.
func TestGETAnswerAboutAnotherKeyIsNotTakenForTheNewKey(t *testing.T) {
	h := newHarness(t, 0)
	old := h.api.add("ci-runner", roleCI)
	h.pass(Options{})
	h.useAPI(&otherNameTerseWrongGet{fakeAPI: h.api, old: old})
	h.engine.Pass(context.Background(), []string{"ci"}, Options{Force: true})
	for _, s := range []*memSink{h.sinkA, h.sinkB} {
		if held := s.holds("ci-runner"); held != "" && held != old {
			t.Errorf("a sink of ci-runner holds %s, a key the API lists under the name ci-someone-else", held)
		}
	}
	if !slices.Contains(h.api.live("ci-runner"), old) {
		t.Errorf("the old key %s was deleted", old)
	}
}
