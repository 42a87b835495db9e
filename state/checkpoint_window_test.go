package state

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// A write that arrives while a checkpoint has the log out of service
// starts a new log. On a full disk that fails; the checkpoint then fails
// too and puts its log back. The write waits for that and goes to the log
// put back, instead of failing a rotation's step for a checkpoint that
// was never going to make room.
func TestAWriteDuringAFailingCheckpointWaitsForTheLogPutBack(t *testing.T) {
	s, put := storeWithALog(t)
	dir := s.Dir()
	var attempts atomic.Int64
	failingDisk(s, &attempts, 300*time.Millisecond)
	s.checkpointInBackground(true) // as the idle timer does
	waitLogOut(t, s)               // the log out of service
	if err := put(5000); err != nil {
		t.Fatalf("a write during a failing checkpoint: %v", err)
	}
	s.background.Wait()
	if attempts.Load() != 1 {
		t.Fatalf("setup: %d checkpoint attempts, want the one that failed", attempts.Load())
	}
	s.writeMu.RLock()
	back := s.log != nil
	s.writeMu.RUnlock()
	if !back {
		t.Fatal("no log in service after the failed checkpoint")
	}
	if err := put(5001); err != nil {
		t.Fatalf("a write after the failed checkpoint: %v", err)
	}
	crash(t, s)
	s = mustOpen(t, dir)
	defer s.Close()
	for i, want := range map[int]string{5000 % 100: "EXO5000", 5001 % 100: "EXO5001"} {
		if r, _ := s.Get("p", fmt.Sprintf("n%03d", i)); r.CurrentKeyID != want {
			t.Errorf("n%03d: %q after the crash, want %s", i, r.CurrentKeyID, want)
		}
	}
}
