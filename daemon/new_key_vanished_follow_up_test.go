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
