package leader

// Third review of the issue 15 fixes: StepDown, against a real
// kube-apiserver (internal/kubetest).

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rotatord/rotatord/internal/kubetest"
)

// A leader whose policies would strand rotations in flight steps down
// (daemon/ha.go lead -> StepDown) so that another replica, with a policy
// file that can finish them, takes over. StepDown stops renewing for the
// rest of the term only: when client-go gives up at the renew deadline,
// Run starts a new term whose first Get finds this replica's own identity
// in the Lease, and client-go (IsLeader) takes it back at once, long
// before a standby sees it expire (lease duration > renew deadline). The
// stepped-down replica leads again, steps down again, for ever: the good
// standby never leads, and no replica acts.
func TestStepDownNeverHandsOver(t *testing.T) {
	c := kubetest.Start(t)
	admin := c.Client(t, kubetest.Admin)
	const ns = "review15c-stepdown"
	c.CreateNamespace(t, ns)

	a := New(Config{
		Client: admin, Namespace: ns, LeaseName: "rotatord", Identity: "replica-a",
		LeaseDuration: 3 * time.Second, RenewDeadline: 2 * time.Second, RetryPeriod: 500 * time.Millisecond,
		Logger: zaptestLogger(t, "replica-a"),
	})
	var terms atomic.Int32
	var stepDown atomic.Bool
	actx, acancel := context.WithCancel(context.Background())
	adone := make(chan struct{})
	go func() {
		defer close(adone)
		_ = a.Run(actx, func(lead context.Context) {
			terms.Add(1)
			if stepDown.Load() {
				a.StepDown("review15c: policies strand rotations in flight")
				return
			}
			<-lead.Done()
		})
	}()
	t.Cleanup(func() { acancel(); <-adone })
	waitCond(t, "A leads", 30*time.Second, func() bool { return a.Check() == nil })

	b := New(Config{
		Client: admin, Namespace: ns, LeaseName: "rotatord", Identity: "replica-b",
		LeaseDuration: 3 * time.Second, RenewDeadline: 2 * time.Second, RetryPeriod: 500 * time.Millisecond,
		Logger: zaptestLogger(t, "replica-b"),
	})
	bctx, bcancel := context.WithCancel(context.Background())
	bdone := make(chan struct{})
	go func() { defer close(bdone); _ = b.Run(bctx, func(lead context.Context) { <-lead.Done() }) }()
	t.Cleanup(func() { bcancel(); <-bdone })
	waitCond(t, "B sees A", 30*time.Second, func() bool { return b.Leader() == "replica-a" })

	// A's next term finds stranded rotations: it steps down. Simulate
	// with a new term: A's current one ends by stepping down too.
	stepDown.Store(true)
	a.StepDown("review15c: policies strand rotations in flight")

	// B should take over once A's Lease expires: a lease duration after
	// A's last renewal, plus B's poll. Give it five lease durations.
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if b.Check() == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("replica A stepped down %d times (%d terms), but B never led in 15s (5 lease durations); the Lease's holder is %q: the stepped-down replica takes its own Lease back each term",
		terms.Load()-1, terms.Load(), b.Leader())
}
