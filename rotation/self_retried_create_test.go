package rotation

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/state"
)

// appliedThen429 makes each create twice, as a server that acted on an
// attempt it answered 429: the first key's secret goes nowhere.
type appliedThen429 struct {
	*signedAPI
	lost []string
}

func (a *appliedThen429) CreateKey(ctx context.Context, name, roleID string) (apiclient.CreatedKey, error) {
	lost, err := a.signedAPI.CreateKey(ctx, name, roleID)
	if err != nil {
		return lost, err
	}
	a.lost = append(a.lost, lost.ID)
	k, err := a.signedAPI.CreateKey(ctx, name, roleID)
	k.EarlierAttemptsAnswered = 1
	return k, err
}

// rotatord's own key rotated with a create retried after a 429 the API
// acted on: the lost key goes, the new own key and (in its grace period)
// the old one stay, and rotatord signs with the new one.
func TestSelfRotationRetriedCreate(t *testing.T) {
	for _, grace := range []time.Duration{0, time.Hour} {
		t.Run(fmt.Sprint("grace ", grace), func(t *testing.T) {
			sh := newSelfHarness(t, grace)
			h := sh.harness
			old := sh.own
			api := &appliedThen429{signedAPI: sh.sapi}
			var j state.Journal = h.store
			h.engine = New(Config{API: api, Store: j, Logger: h.engine.log, Recorder: h.rec, Now: h.clock.Now, Sleep: h.clock.Sleep, OwnKeyID: old})
			self := Policy{Name: "_self", MaxAge: 24 * time.Hour, GracePeriod: grace, Sinks: toSinks(sh.store), Self: sh.sapi}
			if err := h.engine.SetPolicies([]Policy{h.policy, self}); err != nil {
				t.Fatal(err)
			}
			out := sh.pass(Options{Force: true})
			if o, ok := outcomeOf(out, "_self"); !ok || o.Err != nil {
				t.Fatalf("own-key outcome %+v (found %v)", o, ok)
			}
			now := sh.store.holds("rotatord-admin")
			for range 3 {
				h.clock.Add(time.Minute)
				sh.pass(Options{})
			}
			live := sh.liveAdmin()
			for _, id := range api.lost {
				if slices.Contains(live, id) {
					t.Errorf("key %s, made by the attempt answered 429, is alive", id)
				}
			}
			if !slices.Contains(live, now) || sh.sapi.signing() != now {
				t.Errorf("live own keys %v, signing with %s: want the new key %s live and signing", live, sh.sapi.signing(), now)
			}
			if grace > 0 && !slices.Contains(live, old) {
				t.Errorf("the old own key %s was deleted in its grace period", old)
			}
			if r, _ := h.store.Get("_self", "rotatord-admin"); r.RetriedCreate != nil {
				t.Errorf("the search is still open: %+v", r.RetriedCreate)
			}
			sh.assertNoSecretLeak()
		})
	}
}
