package leader

// Review of issue 15: the Lease edited or deleted by hand, against a real
// kube-apiserver (internal/kubetest).

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/rotatord/rotatord/internal/kubetest"
)

type testReplica struct {
	e    *Elector
	stop context.CancelFunc
	done chan struct{}
}

func startReplica(t *testing.T, cs kubernetes.Interface, ns, id string, retry time.Duration) *testReplica {
	t.Helper()
	e := New(Config{
		Client: cs, Namespace: ns, LeaseName: "rotatord", Identity: id,
		LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: retry,
		Logger: zaptest.NewLogger(t).Named(id),
	})
	ctx, cancel := context.WithCancel(context.Background())
	r := &testReplica{e: e, stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		_ = e.Run(ctx, func(lead context.Context) { <-lead.Done() })
	}()
	t.Cleanup(func() { cancel(); <-r.done })
	return r
}

func waitCond(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A person (or a namespace clean-up, or `kubectl delete lease`) deletes the
// Lease while a leader holds it. A standby creates a new Lease at once and
// starts acting; the old leader's claim, counted from its last renewal,
// is still good for most of renew_deadline: both replicas pass Check at
// the same time, so both list, create, deliver and delete.
func TestLeaseDeletedByHandGivesTwoLeaders(t *testing.T) {
	c := kubetest.Start(t)
	admin := c.Client(t, kubetest.Admin)
	c.CreateNamespace(t, "review15-del")
	// A renews every 4s (renew_deadline 10s >= 2x retry), B polls fast:
	// with the defaults (2s each) the same happens whenever B's poll comes
	// before A's renewal.
	a := startReplica(t, admin, "review15-del", "replica-a", 4*time.Second)
	waitCond(t, "A leads", 30*time.Second, func() bool { return a.e.Check() == nil })
	b := startReplica(t, admin, "review15-del", "replica-b", 200*time.Millisecond)
	waitCond(t, "B sees A", 30*time.Second, func() bool { return b.e.Leader() == "replica-a" })

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := admin.CoordinationV1().Leases("review15-del").Delete(ctx, "rotatord", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	overlap := time.Duration(0)
	deadline := time.Now().Add(20 * time.Second)
	var since time.Time
	for time.Now().Before(deadline) {
		aOK, bOK := a.e.Check() == nil, b.e.Check() == nil
		if aOK && bOK {
			if since.IsZero() {
				since = time.Now()
			}
			overlap = time.Since(since)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if overlap > 0 {
		t.Errorf("after the Lease was deleted, replicas A and B both passed Check (both may act) for %v", overlap.Round(time.Millisecond))
	}
}

// A person edits the Lease to hand it to another holder with a short
// lease duration (a forced failover, or `kubectl edit`). The leader reads
// the other holder and is deposed (its work cancelled), but client-go's
// renew loop of the same leadership then takes the expired Lease back and
// keeps renewing it: the replica holds the Lease for good while its
// leadership's work has ended and Check refuses. No replica acts again
// (standbys see a Lease renewed on time) until that process restarts.
func TestLeaseHandedAwayByHandLeavesAZombieHolder(t *testing.T) {
	c := kubetest.Start(t)
	admin := c.Client(t, kubetest.Admin)
	c.CreateNamespace(t, "review15-edit")
	a := startReplica(t, admin, "review15-edit", "replica-a", 2*time.Second)
	waitCond(t, "A leads", 30*time.Second, func() bool { return a.e.Check() == nil })

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	leases := admin.CoordinationV1().Leases("review15-edit")
	// Read and written again when A's renewal came between (a conflict),
	// as kubectl edit has the person do.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		l, err := leases.Get(ctx, "rotatord", metav1.GetOptions{})
		if err != nil {
			return err
		}
		other, one := "someone-else", int32(1)
		now := metav1.NewMicroTime(time.Now())
		l.Spec = coordinationv1.LeaseSpec{HolderIdentity: &other, LeaseDurationSeconds: &one, RenewTime: &now, AcquireTime: &now}
		_, err = leases.Update(ctx, l, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	waitCond(t, "A deposed", 15*time.Second, func() bool { return !a.e.Leading() })
	// A takes the Lease back once "someone-else" lets it expire, and acts
	// a lease duration after it first saw that holder (it cannot know
	// whether such a holder acts): by then A either leads or lets the
	// Lease go.
	deadline := time.Now().Add(45 * time.Second)
	for {
		l, err := leases.Get(ctx, "rotatord", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		holder := ""
		if l.Spec.HolderIdentity != nil {
			holder = *l.Spec.HolderIdentity
		}
		renewed := time.Since(l.Spec.RenewTime.Time)
		if holder != "replica-a" || renewed >= 15*time.Second || a.e.Leading() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica A renews the Lease (renewed %v ago) but does not lead (Leading false, Check: %v): nobody acts, and standbys never take over",
				renewed.Round(time.Millisecond), a.e.Check())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// client-go writes the Lease's duration in whole seconds and standbys
// judge it by that: lease_duration 1.9s is written as 1s. The config
// accepts lease_duration 1.9s, renew_deadline 1.8s, retry_period 500ms;
// the leader's claim lasts renew_deadline minus its margin (1.35s) from
// the start of its last renewal, the standby takes the Lease 1s after it
// saw that renewal. A leader whose renewals stop (API server unreachable
// from its node, a pause) overlaps with the new one. (Below one second,
// e.g. 900ms, the API server refuses the Lease with leaseDurationSeconds
// 0: no replica ever leads.)
func TestFractionalLeaseDurationGivesTwoLeaders(t *testing.T) {
	c := kubetest.Start(t)
	c.CreateNamespace(t, "review15-frac")
	var freeze atomic.Bool
	cfgA := c.RestConfig(kubetest.Admin)
	cfgA.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			if freeze.Load() && req.Method != http.MethodGet {
				<-req.Context().Done() // the renewal never gets through
				return nil, req.Context().Err()
			}
			return rt.RoundTrip(req)
		})
	}
	clientA, err := kubernetes.NewForConfig(cfgA)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(cs kubernetes.Interface, id string) *Elector {
		e := New(Config{
			Client: cs, Namespace: "review15-frac", LeaseName: "rotatord", Identity: id,
			LeaseDuration: 1900 * time.Millisecond, RenewDeadline: 1800 * time.Millisecond, RetryPeriod: 500 * time.Millisecond,
			Logger: zaptest.NewLogger(t).Named(id),
		})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = e.Run(ctx, func(lead context.Context) { <-lead.Done() }) }()
		t.Cleanup(func() { cancel(); <-done })
		return e
	}
	a := mk(clientA, "replica-a")
	waitCond(t, "A leads", 30*time.Second, func() bool { return a.Check() == nil })
	b := mk(c.Client(t, kubetest.Admin), "replica-b")
	waitCond(t, "B sees A", 30*time.Second, func() bool { return b.Leader() == "replica-a" })
	// Freeze A's renewals right after one of them.
	l0 := a.validUntilForTest()
	waitCond(t, "A renews", 10*time.Second, func() bool { return a.validUntilForTest().After(l0) })
	freeze.Store(true)
	both := 0
	deadline := time.Now().Add(8 * time.Second)
	for time.Now().Before(deadline) {
		if a.Check() == nil && b.Check() == nil {
			both++
		}
		time.Sleep(time.Millisecond)
	}
	if both > 0 {
		t.Errorf("lease_duration 1.9s (1s in the Lease): both replicas passed Check at once in %d samples of 1ms", both)
	}
}

func (e *Elector) validUntilForTest() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.validUntil
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
