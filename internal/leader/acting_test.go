package leader

import (
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/rotatord/rotatord/internal/kubetest"
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

// A person edits the Lease by hand while its holder leads and no standby
// runs (leaseDurationSeconds changed, the holder left as it is). The
// leader's next renewal replaces a record naming it that it did not
// write, and it waits a whole lease duration before acting again (see
// timedLock): all that time Check refuses, and rotatord_leader, which
// reads Acting, must say 0, as it does during the same wait at the start
// of a term.
func TestActingWaitsWithCheckAfterAHandEditOfTheLeadersOwnLease(t *testing.T) {
	c := kubetest.Start(t)
	ns := "acting-hand-edit"
	c.CreateNamespace(t, ns)
	admin := c.Client(t, kubetest.Admin)
	a := startReplica(t, admin, ns, "replica-a", 500*time.Millisecond)
	waitCond(t, "A leads", 30*time.Second, func() bool { return a.e.Check() == nil })
	if !a.e.Acting() {
		t.Fatal("A passes Check but is not Acting")
	}
	handEditAfterRenewal(t, c, ns, a, func(_ *string, seconds *int32) { *seconds = 14 })
	waitCond(t, "A waits after reading the edit", 20*time.Second, func() bool {
		a.e.mu.Lock()
		defer a.e.mu.Unlock()
		return time.Until(a.e.notBefore) > time.Second
	})
	if err := a.e.Check(); err == nil {
		t.Fatal("test setup: A passes Check while it waits")
	}
	if !a.e.Leading() {
		t.Fatal("test setup: A stopped leading")
	}
	if a.e.Acting() {
		t.Errorf("A waits a lease duration after a hand edit (Check: %v), yet Acting says it acts: rotatord_leader 1 on a replica that acts not", a.e.Check())
	}
	// And once the wait is over it acts again.
	waitCond(t, "A acts again", 30*time.Second, func() bool { return a.e.Check() == nil })
	if !a.e.Acting() {
		t.Error("A passes Check again but is not Acting")
	}
}
