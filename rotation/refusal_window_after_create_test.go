package rotation

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient"
)

// refusingAfterCreate is the API client after a create whose answer came,
// when another request earned a Retry-After beyond MaxRetryAfter: every
// request after the create fails at once, unsent, rate limited, until the
// refusal is lifted.
type refusingAfterCreate struct {
	*fakeAPI
	refusing atomic.Bool
}

func (r *refusingAfterCreate) refused(op string) error {
	if r.refusing.Load() {
		return &apiclient.Error{Op: op, Kind: apiclient.KindRateLimited, RetryAfter: time.Minute, Message: "not sent: the API asked to wait longer than 2m0s"}
	}
	return nil
}

func (r *refusingAfterCreate) CreateKey(ctx context.Context, name, roleID string) (apiclient.CreatedKey, error) {
	if err := r.refused(apiclient.OpCreateKey); err != nil {
		return apiclient.CreatedKey{}, err
	}
	k, err := r.fakeAPI.CreateKey(ctx, name, roleID)
	r.refusing.Store(true)
	return k, err
}

func (r *refusingAfterCreate) GetKey(ctx context.Context, id string) (apiclient.Key, error) {
	if err := r.refused(apiclient.OpGetKey); err != nil {
		return apiclient.Key{}, err
	}
	return r.fakeAPI.GetKey(ctx, id)
}

func (r *refusingAfterCreate) ListKeys(ctx context.Context) ([]apiclient.Key, error) {
	if err := r.refused(apiclient.OpListKeys); err != nil {
		return nil, err
	}
	return r.fakeAPI.ListKeys(ctx)
}

func (r *refusingAfterCreate) DeleteKey(ctx context.Context, id string) error {
	if err := r.refused(apiclient.OpDeleteKey); err != nil {
		return err
	}
	return r.fakeAPI.DeleteKey(ctx, id)
}

// TestANewKeyWhoseConfirmationIsRefusedUnsentIsRolledBackOnceTheAPIServes:
// between a create and the delivery, the API client refuses every request
// unsent (another request's Retry-After was beyond MaxRetryAfter): the
// confirmation and the rollback both fail. The new key, whose secret is
// gone with the handler, stays on record, and the next pass once the API
// serves again deletes it: no live key nobody holds, and the sinks keep
// the old one.
func TestANewKeyWhoseConfirmationIsRefusedUnsentIsRolledBackOnceTheAPIServes(t *testing.T) {
	h := newHarness(t, time.Hour)
	h.api.add("ci-a", "ci-role")
	h.pass(Options{Force: true}) // rotated once: the sinks hold its key
	h.clock.Add(2 * time.Hour)
	h.pass(Options{}) // the old one deleted
	if n := len(h.api.live("ci-a")); n != 1 {
		t.Fatalf("setup: %d keys live", n)
	}
	api := &refusingAfterCreate{fakeAPI: h.api}
	h.useAPI(api)
	for _, o := range h.pass(Options{Force: true}) {
		if o.Name == "ci-a" && o.Err == nil {
			t.Fatalf("want the rotation to fail while requests are refused: %+v", o)
		}
	}
	rec := h.record("ci-a")
	if rec.Rotation == nil || rec.Rotation.NewKeyID == "" {
		t.Fatalf("the new key is not on record: %+v", rec.Rotation)
	}
	newID := rec.Rotation.NewKeyID
	api.refusing.Store(false)
	h.clock.Add(2 * time.Hour)
	h.pass(Options{})
	for _, id := range h.api.live("ci-a") {
		if id == newID {
			t.Errorf("new key %s alive after the API served again, nobody holding it (record %+v)", newID, h.record("ci-a").Rotation)
		}
	}
	h.assertSinksHoldLiveKeys("ci-a", h.sinkA, h.sinkB)
}
