package daemon

import (
	"context"
	"testing"
	"time"

	"github.com/rotatord/rotatord/rotation"
)

// A deletion (the deleter's round, or a pass) that found the new key of a
// rotation gone keeps the old keys and clears the rotation: the sinks hold
// a key that signs nothing until the name rotates again. Nothing on record
// asks for a pass (no rotation in flight, no failure), so the rotation
// waited for the policy's next scheduled pass (an hour here, a day with a
// daily schedule). A pass follows at once instead.
func TestANewKeyFoundGoneIsFollowedByAPassAtOnce(t *testing.T) {
	e := newEnv(t)
	s := newScheduler(e.d, context.Background())
	s.reschedule() // the hourly schedule: not what comes first
	start := e.d.Now()
	out := []rotation.Outcome{{Policy: "ci", Name: "ci-runner",
		Decision: rotation.Decision{Action: rotation.ActionNone, Reason: rotation.ReasonNewKeyVanished, Due: start}}}
	s.followUp([]string{"ci"}, out, start, nil)
	s.mu.Lock()
	f := s.followUps["ci"]
	s.mu.Unlock()
	if f == nil {
		t.Fatal("no pass follows a deletion that found the new key gone: the name rotates again only at the next scheduled pass, its sinks holding a dead key until then")
	}
	at := armedAt(t, s, "ci")
	if hi := e.d.Now().Add(minFollowUp + time.Second); at.After(hi) {
		t.Errorf("the follow-up is armed %v after the deletion, want at most %v", at.Sub(start), minFollowUp)
	}
}

// TestNewKeysThatKeepVanishingBackOff: a follow-up pass rotates the name
// again; if whoever deleted its new key deletes every key rotatord makes
// (another tool managing the name), the next deletion finds that key gone
// too, a minute or so later (the settle time, a failed deletion's
// backoff). Each such deletion armed a pass at once, which created,
// delivered and hooked another key: a rotation a minute, forever, where
// the schedule made it one an hour. Repeats back off as failures do;
// deletions before the armed pass ran (a burst over many names) join it,
// and one long after the last is at once again.
func TestNewKeysThatKeepVanishingBackOff(t *testing.T) {
	e := newEnv(t)
	now := e.d.Now()
	e.d.opts.Now = func() time.Time { return now }
	s := newScheduler(e.d, context.Background())
	s.reschedule()
	vanish := func() time.Time {
		out := []rotation.Outcome{{Policy: "ci", Name: "ci-runner",
			Decision: rotation.Decision{Action: rotation.ActionNone, Reason: rotation.ReasonNewKeyVanished, Due: now}}}
		s.followUp([]string{"ci"}, out, now, nil)
		return armedAt(t, s, "ci")
	}
	first := vanish()
	if first.After(now.Add(minFollowUp + time.Second)) {
		t.Fatalf("the first follow-up is armed %v ahead, want at once", first.Sub(now))
	}
	now = now.Add(time.Second)
	if at := vanish(); at.After(now.Add(minFollowUp + time.Second)) {
		t.Errorf("a deletion before the armed pass ran: armed %v ahead, want it to join that pass, not back off", at.Sub(now))
	}
	at := first
	for i, want := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute} {
		now = at.Add(time.Minute) // the pass ran, rotated; its key vanished too
		if at = vanish(); at.Before(now.Add(want)) {
			t.Errorf("vanish %d in a row: the follow-up is armed %v ahead, want at least %v: a name whose keys keep vanishing rotates back to back", i+2, at.Sub(now), want)
		}
	}
	now = at.Add(vanishHorizon + time.Minute)
	if at := vanish(); at.After(now.Add(minFollowUp + time.Second)) {
		t.Errorf("a vanish long after the last: armed %v ahead, want at once", at.Sub(now))
	}
}
