package daemon

import (
	"context"
	"testing"
	"time"
)

// A reload that leaves a policy's schedule as it was keeps its next run:
// every reload scheduled each policy anew, and "@every 1h" (the default)
// counts from when it is scheduled, so reloads coming more often than
// once an hour (a configuration agent's SIGHUP every 30 minutes) held
// every scheduled pass off for good: keys past max_age never rotated.
func TestReloadKeepsTheNextRunOfAnUnchangedSchedule(t *testing.T) {
	e := newEnv(t)
	s := newScheduler(e.d, context.Background())
	s.reschedule()
	s.cron.Start()
	defer s.cron.Stop()
	next := s.cron.Entry(s.entryOf["ci"]).Next
	if next.IsZero() {
		t.Fatal("ci has no next run")
	}
	// The schedule counts in whole seconds: let one begin.
	for start := time.Now().Truncate(time.Second); time.Now().Truncate(time.Second).Equal(start); {
		time.Sleep(10 * time.Millisecond)
	}
	if err := e.d.Reload(); err != nil {
		t.Fatal(err)
	}
	s.reschedule()
	if got := s.cron.Entry(s.entryOf["ci"]).Next; !got.Equal(next) {
		t.Errorf("next run of ci after a reload of the same file: %v, was %v", got, next)
	}
}
