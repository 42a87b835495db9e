package leader

import (
	"testing"
	"time"

	"go.uber.org/zap"
)

// A leader paused past its claim (SIGSTOP, a suspended VM) and woken
// still has leading set until its election loop looks at the Lease again;
// Acting, which rotatord_leader reads, says at once that it may not act.
func TestActingEndsWithTheClaimNotWithTheElectionLoop(t *testing.T) {
	e := New(Config{LeaseDuration: 3 * time.Second, RenewDeadline: 2 * time.Second, RetryPeriod: 500 * time.Millisecond, Logger: zap.NewNop()})
	if e.Acting() {
		t.Fatal("Acting before it ever led")
	}
	e.renewed(time.Now())
	e.setLeading(true)
	if !e.Acting() {
		t.Fatal("not Acting right after a renewal")
	}
	// The claim ran out while the process stood still.
	e.mu.Lock()
	past := time.Now().Add(-time.Millisecond)
	e.validUntil, e.validUntilWall = past, past.Round(0)
	e.mu.Unlock()
	if !e.Leading() {
		t.Fatal("test setup: the election loop has not stopped leading yet")
	}
	if e.Acting() {
		t.Error("Acting after its claim ended: a woken leader reports rotatord_leader 1 beside the new leader")
	}
	e.setLeading(false)
	if e.Acting() {
		t.Error("Acting after it stopped leading")
	}
}
