package rotation

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient"
)

// countingLists counts the listings made through it.
type countingLists struct {
	*fakeAPI
	lists atomic.Int64
}

func (c *countingLists) ListKeys(ctx context.Context) ([]apiclient.Key, error) {
	c.lists.Add(1)
	return c.fakeAPI.ListKeys(ctx)
}

// The deleter's check of the credential's organization, refused (another
// organization's credential in the account's place), was made again at
// every round, every 15 seconds: a listing each time, and a warning for
// each due name of the journal (a thousand names due: a thousand warnings
// every 15 seconds) until an operator acted. A refusal now backs off like
// a failed step (one minute, doubling); the names wait without an error
// meanwhile. The right credential back is checked at the next round.
func TestTheDeletersOrganizationRefusalBacksOff(t *testing.T) {
	h := newHarness(t, time.Hour)
	h.api.add("ci-runner", roleCI)
	h.pass(Options{Force: true})

	other := newFakeAPI(t)
	other.n = 1 << 40 // key ids are unique across organizations
	otherOwn := other.add("rotatord-admin", "99999999-9999-9999-9999-999999999999")
	other.add("ci-runner", "88888888-8888-8888-8888-888888888888")
	foreign := &countingLists{fakeAPI: other}
	h.newEngine() // a restart with the other organization's credential
	h.engine.Reconfigure(foreign, otherOwn, 4)
	h.clock.Add(2 * time.Hour) // the grace period is over
	errs := 0
	for range 8 { // two minutes of rounds, 15 seconds apart
		for _, o := range h.engine.DeleteDue(context.Background()) {
			if o.Err != nil {
				errs++
			} else if o.Decision.Reason != ReasonBackoff {
				t.Errorf("%s: %v, want it refused or backing off", o.Name, o.Decision)
			}
		}
		h.clock.Add(15 * time.Second)
	}
	if n := foreign.lists.Load(); n > 2 {
		t.Errorf("the deleter listed another organization's keys %d times in two minutes of rounds, want a backoff (at most 2)", n)
	}
	if errs == 0 || errs > 2 {
		t.Errorf("%d rounds refused with an error in two minutes, want 1 or 2 (the others backing off)", errs)
	}
	if len(other.deleted) != 0 || len(h.api.deleted) != 0 {
		t.Errorf("deleted: other organization %v, journal's %v", other.deleted, h.api.deleted)
	}

	// The journal's credential back: its rounds go on at once (the new
	// key confirmed first, then the old key deleted).
	h.engine.Reconfigure(h.api, h.own, 4)
	for range 3 {
		for _, o := range h.engine.DeleteDue(context.Background()) {
			if o.Err != nil || o.Decision.Reason == ReasonBackoff {
				t.Errorf("%s with the journal's credential back: %v %v", o.Name, o.Decision, o.Err)
			}
		}
		h.clock.Add(15 * time.Second)
	}
	if len(h.api.deleted) != 1 {
		t.Errorf("the old key not deleted once the journal's credential was back: deleted %v", h.api.deleted)
	}
}
