package daemon

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/rotation"
	"github.com/rotatord/rotatord/state"
)

// getOnlyAPI answers GetKey and ListKeys (the deleter's check of the
// credential's organization, once per credential) from keys; any other
// call panics (the test must not reach one).
type getOnlyAPI struct {
	apiclient.API
	keys map[string]apiclient.Key
}

func (a getOnlyAPI) ListKeys(context.Context) ([]apiclient.Key, error) {
	var out []apiclient.Key
	for _, k := range a.keys {
		out = append(out, k)
	}
	return out, nil
}

func (a getOnlyAPI) GetKey(_ context.Context, id string) (apiclient.Key, error) {
	if k, ok := a.keys[id]; ok {
		return k, nil
	}
	return apiclient.Key{}, apiclient.ErrNotFound
}

// A replica that leads again reads the journals again (reloadJournals),
// and forgets the confirmations it made when it led before: the leader in
// between may have delivered another rotation on the same name, whose
// own delay a confirmation kept from before would skip. Here the
// confirmation shows in NextDeletion, which holds the deletion until the
// confirmation's delay ends; after reloadJournals it is the grace
// period's end again, and the next round confirms anew.
func TestLeadingAgainForgetsTheConfirmationsMadeBefore(t *testing.T) {
	st := newStore(t)
	now := time.Now()
	deleteAfter := now.Add(-time.Minute) // the grace period is over
	if err := st.Put(state.Record{Policy: "p", Name: "ci-runner", RoleID: "r", Rotation: &state.Rotation{
		Phase: state.PhaseDelivered, StartedAt: now.Add(-3 * time.Hour), OldKeyIDs: []string{"old"}, RoleID: "r",
		NewKeyID: "new", DeliveredAt: deleteAfter.Add(-2 * time.Hour), DeleteAfter: deleteAfter,
	}}); err != nil {
		t.Fatal(err)
	}
	api := getOnlyAPI{keys: map[string]apiclient.Key{
		"new": {ID: "new", Name: "ci-runner", RoleID: "r"},
		"old": {ID: "old", Name: "ci-runner", RoleID: "r"},
	}}
	eng := rotation.New(rotation.Config{API: api, Store: st, Logger: zap.NewNop(), Now: time.Now, MinDeleteDelay: time.Hour})
	if err := eng.SetPolicies([]rotation.Policy{{Name: "p", Match: func(string, string) bool { return true }, GracePeriod: 2 * time.Hour}}); err != nil {
		t.Fatal(err)
	}
	d := &Daemon{opts: Options{Now: time.Now}, log: zap.NewNop(),
		accounts: map[string]*account{"a": {name: "a", engine: eng, store: st}}, current: &setup{}}

	// This process confirms the new key now, and waits out its delay.
	for _, o := range eng.DeleteDue(context.Background()) {
		if o.Err != nil || o.Decision.Reason != rotation.ReasonConfirming {
			t.Fatalf("first round: %+v, want it waiting on the confirmation", o)
		}
	}
	before := deleteAfter.Add(-time.Second)
	if next, _ := eng.NextDeletion(before); !next.After(now.Add(50 * time.Minute)) {
		t.Fatalf("with the confirmation made, the deletion is due at %v, want about an hour ahead", next)
	}

	if err := d.reloadJournals(context.Background()); err != nil {
		t.Fatal(err)
	}
	if next, ok := eng.NextDeletion(before); !ok || !next.Equal(deleteAfter) {
		t.Errorf("after leading again the deletion is due at %v (%v), want the end of the grace period %v: the confirmation made before was kept", next, ok, deleteAfter)
	}
	// And the next round confirms anew, and waits again.
	for _, o := range eng.DeleteDue(context.Background()) {
		if o.Err != nil || o.Decision.Reason != rotation.ReasonConfirming {
			t.Errorf("round after leading again: %+v, want it waiting on a new confirmation", o)
		}
	}
}
