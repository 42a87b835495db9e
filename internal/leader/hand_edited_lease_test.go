package leader

// A Lease edited by hand while a leader holds it, against a real
// kube-apiserver (internal/kubetest): the edit must never let a standby act
// while the old leader may still act.

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/rotatord/rotatord/internal/kubetest"
)

// handEditAfterRenewal waits until leader A has just renewed the Lease,
// then applies edit to it: A's next renewal (and so the moment it reads
// the edit) is a whole retry period away.
func handEditAfterRenewal(t *testing.T, c *kubetest.Cluster, ns string, a *testReplica, edit func(holder *string, seconds *int32)) {
	t.Helper()
	admin := c.Client(t, kubetest.Admin)
	l0 := a.e.validUntilForTest()
	waitCond(t, "A renews", 20*time.Second, func() bool { return a.e.validUntilForTest().After(l0) })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	leases := admin.CoordinationV1().Leases(ns)
	// Read and written again when A's renewal came between (a conflict:
	// a loaded machine took longer than A's retry period), as kubectl
	// edit has the person do; the edit then still follows a renewal.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		l, err := leases.Get(ctx, "rotatord", metav1.GetOptions{})
		if err != nil {
			return err
		}
		edit(l.Spec.HolderIdentity, l.Spec.LeaseDurationSeconds)
		_, err = leases.Update(ctx, l, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// bothAct samples both replicas' Check for d and returns how many samples
// found both allowed to act.
func bothAct(a, b *testReplica, d time.Duration) int {
	both := 0
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		if a.e.Check() == nil && b.e.Check() == nil {
			both++
		}
	}
	return both
}

// A person hands the Lease to a standby by hand (`kubectl patch lease`
// with the standby's identity as the holder, to move the leader). The
// standby reads its own name in a valid Lease, renews it as its own and
// acts at once, while the old leader acts on until its next renewal shows
// it the edit: two leaders.
func TestLeaseHandedToAStandbyByHandNeverGivesTwoLeaders(t *testing.T) {
	c := kubetest.Start(t)
	ns := "lease-hand-standby"
	c.CreateNamespace(t, ns)
	admin := c.Client(t, kubetest.Admin)
	a := startReplica(t, admin, ns, "replica-a", 5*time.Second)
	waitCond(t, "A leads", 30*time.Second, func() bool { return a.e.Check() == nil })
	b := startReplica(t, admin, ns, "replica-b", 200*time.Millisecond)
	waitCond(t, "B sees A", 30*time.Second, func() bool { return b.e.Leader() == "replica-a" })

	handEditAfterRenewal(t, c, ns, a, func(holder *string, _ *int32) { *holder = "replica-b" })
	if n := bothAct(a, b, 8*time.Second); n > 0 {
		t.Errorf("the Lease handed to standby B by hand: A and B both passed Check (both may act) in %d samples", n)
	}
	// B leads in the end: the edit asked for it.
	waitCond(t, "B acts", 40*time.Second, func() bool { return b.e.Check() == nil })
}

// A person shortens the Lease's duration by hand (leaseDurationSeconds 1,
// the holder unchanged). A standby sees the edit, and a second later
// takes the Lease from the holder and acts at once; the holder acts on
// until its next renewal fails: two leaders.
func TestLeaseDurationShortenedByHandNeverGivesTwoLeaders(t *testing.T) {
	c := kubetest.Start(t)
	ns := "lease-hand-duration"
	c.CreateNamespace(t, ns)
	admin := c.Client(t, kubetest.Admin)
	a := startReplica(t, admin, ns, "replica-a", 5*time.Second)
	waitCond(t, "A leads", 30*time.Second, func() bool { return a.e.Check() == nil })
	b := startReplica(t, admin, ns, "replica-b", 200*time.Millisecond)
	waitCond(t, "B sees A", 30*time.Second, func() bool { return b.e.Leader() == "replica-a" })

	handEditAfterRenewal(t, c, ns, a, func(_ *string, seconds *int32) { *seconds = 1 })
	if n := bothAct(a, b, 8*time.Second); n > 0 {
		t.Errorf("the Lease's duration shortened by hand: A and B both passed Check (both may act) in %d samples", n)
	}
}

// A renewal the API server applied but whose answer was lost (a timeout,
// an API server restarting) leaves the leader's own record in the Lease,
// one client-go does not know it wrote. The leader must still know it for
// its own, and act on: no lease duration's wait as for a hand edit.
func TestLostRenewalAnswerIsStillTheLeadersOwnRecord(t *testing.T) {
	c := kubetest.Start(t)
	ns := "lease-lost-answer"
	c.CreateNamespace(t, ns)
	// The renewal's answer is lost, and so is the read client-go makes
	// right after it: the renewal attempt after that one reads the
	// record the lost one left.
	var drop, dropped, failRead atomic.Bool
	cfg := c.RestConfig(kubetest.Admin)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			if req.Method == http.MethodGet && failRead.CompareAndSwap(true, false) {
				return nil, errors.New("API server unreachable")
			}
			resp, err := rt.RoundTrip(req)
			if err == nil && req.Method == http.MethodPut && drop.CompareAndSwap(true, false) {
				resp.Body.Close()
				failRead.Store(true)
				dropped.Store(true)
				return nil, errors.New("answer lost")
			}
			return resp, err
		})
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a := startReplica(t, cs, ns, "replica-a", 500*time.Millisecond)
	waitCond(t, "A leads", 30*time.Second, func() bool { return a.e.Check() == nil })
	drop.Store(true)
	waitCond(t, "a renewal's answer lost", 20*time.Second, dropped.Load)
	l0 := a.e.validUntilForTest()
	waitCond(t, "A renews again", 20*time.Second, func() bool { return a.e.validUntilForTest().After(l0) })
	a.e.mu.Lock()
	notBefore := a.e.notBefore
	a.e.mu.Unlock()
	if wait := time.Until(notBefore); wait > 0 {
		t.Errorf("after a renewal whose answer was lost, leader A waits %v before acting again, as after a hand edit (Check: %v)", wait.Round(time.Millisecond), a.e.Check())
	}
}

// Renewals that fail without reaching the API server (an admission
// webhook down, a proxy refusing writes) while reads go through: each
// retry client-go sends a renewal, reads the Lease (its own record, the
// last one taken) and sends another. The leader still holds the Lease
// throughout: when a renewal goes through again within the renew deadline,
// the record it replaced is still its own, however many renewals failed
// in between, and it must not wait a lease duration as after a hand edit.
func TestManyFailedRenewalsLeaveTheLeadersOwnRecord(t *testing.T) {
	c := kubetest.Start(t)
	ns := "lease-failed-renewals"
	c.CreateNamespace(t, ns)
	var refuse atomic.Int32
	var refused atomic.Int32
	cfg := c.RestConfig(kubetest.Admin)
	cfg.QPS, cfg.Burst = 1000, 1000 // client-go's limiter would stretch the refusals past the renew deadline
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			if req.Method == http.MethodPut && refuse.Add(-1) >= 0 {
				refused.Add(1)
				return nil, errors.New("write refused before it reached the API server")
			}
			return rt.RoundTrip(req)
		})
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Lease 15 s, renew deadline 10 s: 40 refused writes at two a retry
	// period of 100 ms fit in it several times over on any machine.
	a := startReplica(t, cs, ns, "replica-a", 100*time.Millisecond)
	waitCond(t, "A leads", 30*time.Second, func() bool { return a.e.Check() == nil })
	const n = 40
	refuse.Store(n)
	waitCond(t, "renewals refused", 30*time.Second, func() bool { return refused.Load() == n })
	l0 := a.e.validUntilForTest()
	waitCond(t, "A renews again", 20*time.Second, func() bool { return a.e.validUntilForTest().After(l0) })
	if !a.e.Leading() {
		t.Skip("A lost the Lease while its renewals were refused (a very slow machine): nothing to test")
	}
	a.e.mu.Lock()
	notBefore := a.e.notBefore
	a.e.mu.Unlock()
	if wait := time.Until(notBefore); wait > 0 {
		t.Errorf("after %d refused renewals, leader A waits %v before acting again, as after a hand edit (Check: %v)", n, wait.Round(time.Millisecond), a.e.Check())
	}
}
