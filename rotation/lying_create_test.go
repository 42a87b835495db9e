package rotation

import (
	"context"
	"errors"
	"testing"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/secret"
)

// useAPI restarts the engine over the same journal with api in place of
// the fake (a wrapper of it).
func (h *harness) useAPI(api apiclient.API) {
	h.t.Helper()
	h.engine = New(Config{API: api, Store: h.store, Logger: h.engine.log, Recorder: h.rec, Now: h.clock.Now, Sleep: h.clock.Sleep, OwnKeyID: h.own})
	if err := h.engine.SetPolicies([]Policy{h.policy}); err != nil {
		h.t.Fatal(err)
	}
}

// lyingCreate answers a create with the id of a key that already exists
// (here: a key no policy matches), as an API that lies or mixes up answers could.
type lyingCreate struct {
	*fakeAPI
	answerID string
}

func (l *lyingCreate) CreateKey(ctx context.Context, name, roleID string) (apiclient.CreatedKey, error) {
	l.fakeAPI.mu.Lock()
	k := l.fakeAPI.keys[l.answerID]
	l.fakeAPI.mu.Unlock()
	return apiclient.CreatedKey{Key: k, Secret: secret.Value("forged-secret-0123456789")}, nil
}

// Found by review: the create answer's id, name and role are taken as they
// come; a rollback then deletes that id by its recorded id, unchecked.
// Here the answer names key prod-db, which no policy matches: the first
// sink fails, the "new" key is rolled back, and prod-db is deleted.
func TestCreateAnswerNamingAnotherKeyIsRefused(t *testing.T) {
	h := newHarness(t, 0)
	victim := h.api.add("prod-db", roleCI)
	h.api.add("ci-runner", roleCI)
	h.pass(Options{}) // adopt both
	h.useAPI(&lyingCreate{fakeAPI: h.api, answerID: victim})
	h.sinkA.failWrite = errors.New("disk full")
	h.engine.Pass(context.Background(), []string{"ci"}, Options{Force: true})
	if live := h.api.live("prod-db"); len(live) != 1 || live[0] != victim {
		t.Errorf("prod-db (matched by no policy): key %s was deleted by ci-runner's rollback (live: %v); deleted: %v", victim, live, h.api.deleted)
	}
}

// The same with the answer naming rotatord's own key: it deletes the key it
// signs with.
func TestCreateAnswerNamingTheOwnKeyIsRefused(t *testing.T) {
	h := newHarness(t, 0)
	h.api.add("ci-runner", roleCI)
	h.pass(Options{})
	h.useAPI(&lyingCreate{fakeAPI: h.api, answerID: h.own})
	h.sinkA.failWrite = errors.New("disk full")
	h.engine.Pass(context.Background(), []string{"ci"}, Options{Force: true})
	if live := h.api.live("rotatord-admin"); len(live) != 1 {
		t.Errorf("rotatord's own key %s was deleted by a rollback (deleted: %v)", h.own, h.api.deleted)
	}
}

// An answer about a new key of another name: refused, its secret goes to
// no sink, and the key of the name stays the one the sinks hold.
func TestCreateAnswerOfAnotherNameIsRefused(t *testing.T) {
	h := newHarness(t, 0)
	cur := h.api.add("ci-runner", roleCI)
	h.pass(Options{})
	other := h.api.add("ci-elsewhere", roleCI) // made by the lying create
	h.useAPI(&lyingCreate{fakeAPI: h.api, answerID: other})
	out, _ := h.engine.Pass(context.Background(), []string{"ci"}, Options{Force: true})
	if o := findOutcome(out, "ci-runner"); o.Err == nil {
		t.Errorf("ci-runner: no error for a create answer about key %s of another name", other)
	}
	for _, s := range []*memSink{h.sinkA, h.sinkB} {
		if got := s.held["ci-runner"]; got.KeyID == other || got.Secret.Reveal() == "forged-secret-0123456789" {
			t.Errorf("sink %s holds the refused answer's key %s", s.label, got.KeyID)
		}
	}
	if live := h.api.live("ci-runner"); len(live) != 1 || live[0] != cur {
		t.Errorf("ci-runner's keys: %v, want %s only", live, cur)
	}
}
