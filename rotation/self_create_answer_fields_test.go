package rotation

import (
	"context"
	"testing"

	"github.com/rotatord/rotatord/apiclient"
)

// terseSigned answers creates without the key's name.
type terseSigned struct{ *signedAPI }

func (a *terseSigned) CreateKey(ctx context.Context, name, roleID string) (apiclient.CreatedKey, error) {
	k, err := a.signedAPI.CreateKey(ctx, name, roleID)
	k.Name = ""
	return k, err
}

// rotatord's own key, against an API whose create answers leave the
// optional name out: the key is asked for (signed with itself) before its
// store gets it, and the rotation goes through, instead of each attempt
// creating a key and deleting it again.
func TestSelfRotationWithACreateAnswerWithoutName(t *testing.T) {
	sh := newSelfHarness(t, 0)
	old := sh.own
	sh.restartWith(&terseSigned{sh.sapi}, sh.sapi)
	out := sh.pass(Options{Force: true})
	if o, ok := outcomeOf(out, "_self"); !ok || o.Err != nil {
		t.Fatalf("own-key outcome %+v (found %v)", o, ok)
	}
	now := sh.store.holds("rotatord-admin")
	if now == old || now == "" {
		t.Fatalf("the store holds %q, want a new key", now)
	}
	if live := sh.liveAdmin(); len(live) != 1 || live[0] != now {
		t.Errorf("live own keys %v, want only %s", live, now)
	}
	if n := len(sh.api.issued); n != 1 {
		t.Errorf("%d keys created, want 1", n)
	}
}

// wrongNameSigned makes the key under another name and answers without it.
type wrongNameSigned struct{ *signedAPI }

func (a *wrongNameSigned) CreateKey(ctx context.Context, name, roleID string) (apiclient.CreatedKey, error) {
	k, err := a.signedAPI.CreateKey(ctx, "ci-someone-else", roleID)
	k.Name = ""
	return k, err
}

// The same answer about a key the API shows under another name: the store
// keeps the old key, and rotatord goes on signing with it. (That key is
// not deleted: a key of another name may be anyone's.)
func TestSelfRotationRefusesAKeyTheAPIShowsUnderAnotherName(t *testing.T) {
	sh := newSelfHarness(t, 0)
	old := sh.own
	sh.restartWith(&wrongNameSigned{sh.sapi}, sh.sapi)
	out, _ := sh.engine.Pass(context.Background(), []string{"_self"}, Options{Force: true})
	if o, ok := outcomeOf(out, "_self"); !ok || o.Err == nil {
		t.Errorf("own-key outcome %+v (found %v), want a failure", o, ok)
	}
	if now := sh.store.holds("rotatord-admin"); now != old {
		t.Errorf("the store holds %q, want the old key %s", now, old)
	}
	if sh.sapi.signing() != old {
		t.Errorf("signing with %s, want the old key %s", sh.sapi.signing(), old)
	}
}
