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
	h.deletesWithoutBackoff(t, "with the journal's credential back")
}

// refusingLists answers every listing with the API's refusal, as a wrong
// secret for the right key id does.
type refusingLists struct{ *fakeAPI }

func (refusingLists) ListKeys(context.Context) ([]apiclient.Key, error) {
	return nil, &apiclient.Error{Op: apiclient.OpListKeys, Kind: apiclient.KindAuth}
}

// The backoff was kept per key id, across reloads: a reload that fixed
// the credential's secret (or the endpoint) kept the key id, and the
// deleter went on backing off, up to 15 minutes, instead of checking the
// credential now in force at once. Every reload (an install) checks again.
func TestTheDeletersOrganizationBackoffEndsAtAReloadOfTheSameKey(t *testing.T) {
	h := newHarness(t, time.Hour)
	h.api.add("ci-runner", roleCI)
	h.pass(Options{Force: true})

	h.useAPI(refusingLists{h.api}) // a restart with a wrong secret for the same key
	h.clock.Add(2 * time.Hour)     // the grace period is over
	for range 5 {                  // backoffs of 1, 2, 4, 8 minutes
		h.engine.DeleteDue(context.Background())
		h.clock.Add(16 * time.Minute)
	}
	errs := 0
	for _, o := range h.engine.DeleteDue(context.Background()) {
		if o.Err != nil {
			errs++
		}
	}
	if errs == 0 {
		t.Fatalf("the wrong secret's check was not refused")
	}

	// The secret fixed, the same key id: a reload.
	unlock := h.engine.LockInstall()
	h.engine.CommitLocked(context.Background(), Install{Policies: []Policy{h.policy}, API: h.api, OwnKeyID: h.own})
	unlock()
	h.deletesWithoutBackoff(t, "after the reload that fixed the credential")
}

// ctxLists fails a listing whose context is over, as the client does.
type ctxLists struct{ *fakeAPI }

func (c ctxLists) ListKeys(ctx context.Context) ([]apiclient.Key, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return c.fakeAPI.ListKeys(ctx)
}

// A round cancelled (a stop, leadership lost) failed the check with its
// context's error, counted as a refusal: the next round of the same
// engine (leadership back) backed off a minute, and longer for each such
// stop, though nothing was refused.
func TestTheDeletersOrganizationCheckCancelledIsNoRefusal(t *testing.T) {
	h := newHarness(t, time.Hour)
	h.api.add("ci-runner", roleCI)
	h.pass(Options{Force: true})
	h.useAPI(ctxLists{h.api}) // a restart
	h.clock.Add(2 * time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	h.engine.DeleteDue(ctx)
	for _, o := range h.engine.DeleteDue(context.Background()) {
		if o.Err != nil || o.Decision.Reason == ReasonBackoff {
			t.Errorf("%s after a cancelled round: %v %v", o.Name, o.Decision, o.Err)
		}
	}
}

// flakyLists fails its listings while down is set.
type flakyLists struct {
	*fakeAPI
	down atomic.Bool
}

func (f *flakyLists) ListKeys(ctx context.Context) ([]apiclient.Key, error) {
	if f.down.Load() {
		return nil, &apiclient.Error{Op: apiclient.OpListKeys, Kind: apiclient.KindUnavailable}
	}
	return f.fakeAPI.ListKeys(ctx)
}

// A pass that found the credential of the journal's organization left the
// deleter's failures of that credential on count: when the client went
// back to it later without an install (an own-key rotation whose new key
// could not be confirmed switches back), the deleter backed off for
// failures a pass had since shown over.
func TestTheDeletersOrganizationBackoffEndsWhenAPassFindsTheCredential(t *testing.T) {
	h := newHarness(t, time.Hour)
	h.api.add("ci-runner", roleCI)
	h.pass(Options{Force: true})
	flaky := &flakyLists{fakeAPI: h.api}
	flaky.down.Store(true)
	h.useAPI(flaky) // a restart during an outage
	h.clock.Add(2 * time.Hour)
	for _, wait := range []time.Duration{61 * time.Second, 121 * time.Second, 0} { // a backoff of 4 minutes from now
		h.engine.DeleteDue(context.Background())
		h.clock.Add(wait)
	}
	flaky.down.Store(false)
	h.pass(Options{}) // finds the credential of the journal's organization
	// Another key signed with for a moment, then the credential again.
	h.engine.setOwn("EXO0000000000000000000000ff")
	h.engine.markOrganizationChecked("EXO0000000000000000000000ff")
	h.engine.setOwn(h.own)
	for _, o := range h.engine.DeleteDue(context.Background()) {
		if o.Err != nil || o.Decision.Reason == ReasonBackoff {
			t.Errorf("%s with the credential a pass found: %v %v", o.Name, o.Decision, o.Err)
		}
	}
}

// deletesWithoutBackoff runs three deleter rounds 15 s apart (the new key
// confirmed first, then the old key deleted) and wants each to go on at
// once, with neither an error nor a backoff, and the old key deleted.
func (h *harness) deletesWithoutBackoff(t *testing.T, when string) {
	t.Helper()
	for range 3 {
		for _, o := range h.engine.DeleteDue(context.Background()) {
			if o.Err != nil || o.Decision.Reason == ReasonBackoff {
				t.Errorf("%s %s: %v %v", o.Name, when, o.Decision, o.Err)
			}
		}
		h.clock.Add(15 * time.Second)
	}
	if len(h.api.deleted) != 1 {
		t.Errorf("the old key not deleted %s: deleted %v", when, h.api.deleted)
	}
}
