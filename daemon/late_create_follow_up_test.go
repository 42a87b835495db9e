package daemon

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient/exosim"
	"github.com/rotatord/rotatord/rotation"
)

// A create whose answer is lost and that the API applies late makes a key
// whose secret nobody has. The daemon searches for it again once the
// create's settle time and the failure's backoff (1 minute) are over, and
// deletes it, instead of leaving it alive until the policy's next
// scheduled pass, an hour away.
func TestLateAppliedCreateIsDeletedBeforeTheNextScheduledPass(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out a failure's backoff (1 minute)")
	}
	e := newEnv(t)
	e.sim.SetFault(exosim.OpCreateAPIKey, exosim.Fault{LoseResponseNext: 1, LateApply: 3 * time.Second, LateApplyNext: 1})
	e.start() // ciPolicy: @every 1h, so the pass at start is the only scheduled one

	// late is the key the lost create made, once the simulator has it.
	late := func() (exosim.KeyRecord, bool) {
		for _, k := range e.sim.Keys() {
			if k.AppliedAt != nil && strings.HasPrefix(k.Name, "ci-") {
				return k, true
			}
		}
		return exosim.KeyRecord{}, false
	}
	// Far from the next scheduled pass (an hour away), far above the
	// minute it takes alone: a CI run under load (-race, 2 cores, other
	// processes beside it) once needed more than 100 s.
	deadline := time.Now().Add(5 * time.Minute)
	for {
		k, ok := late()
		if ok && !k.Alive {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 5 minutes, the key of the lost create is %+v (found: %v), still alive; the next scheduled pass is an hour away", k, ok)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// lostCreate runs a pass of ci whose first create's answer is lost and
// which the API applies late: that name's rotation stays in flight
// (unsettled). It returns the pass's
// outcomes and the name left unsettled.
func lostCreate(t *testing.T, e *env) ([]rotation.Outcome, string) {
	t.Helper()
	e.sim.SetFault(exosim.OpCreateAPIKey, exosim.Fault{LoseResponseNext: 1, LateApply: time.Hour, LateApplyNext: 1})
	out, _ := e.d.RunPass(context.Background(), []string{"ci"}, rotation.Options{})
	for _, o := range out {
		if o.Err != nil {
			return out, o.Name
		}
	}
	t.Fatalf("no name failed in the pass with a lost create: %+v", out)
	return nil, ""
}

// armedAt is when s's follow-up of policy is armed for; it disarms it, as
// its pass would on running.
func armedAt(t *testing.T, s *scheduler, policy string) time.Time {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.followUps[policy]
	if f == nil {
		t.Fatalf("no follow-up armed for %s", policy)
	}
	f.t.Stop()
	delete(s.followUps, policy)
	return f.at
}

// A rotation that waits for a time already over (a new key the API lists
// without its name or role and answers 404 for stays "not visible yet"
// with a due time of its creation plus the settle time, whatever the
// time now) is waiting for nothing timed: its follow-ups back off as
// failures do, instead of a pass every 5 seconds for as long as the API
// keeps answering so.
func TestFollowUpsOfAWaitAlreadyOverBackOff(t *testing.T) {
	e := newEnv(t)
	_, name := lostCreate(t, e)
	s := newScheduler(e.d, context.Background())
	past := e.d.Now().Add(-time.Hour)
	out := []rotation.Outcome{{Policy: "ci", Name: name,
		Decision: rotation.Decision{Action: rotation.ActionNone, Reason: rotation.ReasonNewKeySettle, Due: past}}}
	var last time.Time
	for range 3 {
		s.followUp([]string{"ci"}, out, e.d.Now(), nil)
		last = armedAt(t, s, "ci")
	}
	if min := e.d.Now().Add(time.Minute); last.Before(min) {
		t.Errorf("the third follow-up in a row of a wait already over is armed for %v, before %v: passes run back to back", last, min)
	}
}

// The time a follow-up is armed for is that of the names left in flight:
// another name's wait (here a deletion backing off for an hour, its
// rotation delivered) must not put off the search for a lost create's
// key, which lives meanwhile and nobody has its secret.
func TestFollowUpIsNotPutOffByASettledNamesBackoff(t *testing.T) {
	e := newEnv(t)
	out, name := lostCreate(t, e)
	late := e.d.Now().Add(time.Hour)
	for i, o := range out {
		if o.Name != name {
			out[i].Err = nil
			out[i].Decision = rotation.Decision{Action: rotation.ActionNone, Reason: rotation.ReasonBackoff, Due: late}
		}
	}
	s := newScheduler(e.d, context.Background())
	s.followUp([]string{"ci"}, out, e.d.Now(), nil)
	if at, max := armedAt(t, s, "ci"), e.d.Now().Add(2*time.Minute); at.After(max) {
		t.Errorf("follow-up of %s's lost create armed for %v, after %v: put off by another name's backoff", name, at, max)
	}
}
