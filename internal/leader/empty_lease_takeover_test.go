package leader

// Second review of the issue 15 fixes (timedLock), against a real
// kube-apiserver (internal/kubetest).

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rotatord/rotatord/internal/kubetest"
)

// A Lease that exists with no holder and was not written by release (a
// manifest or Helm chart that creates the Lease up front, `kubectl edit`
// clearing the holder). The replica that takes it over must wait one lease
// duration, then act. But timedLock remembers the empty holder from the
// last Get, and client-go renews on its fast path (Update without a Get):
// every renewal calls unsafe(now+lease) again, so notBefore always lies a
// lease duration ahead and Check refuses for ever: nobody ever acts.
func TestEmptyLeaseTakeoverNeverActs(t *testing.T) {
	c := kubetest.Start(t)
	admin := c.Client(t, kubetest.Admin)
	c.CreateNamespace(t, "review15b-empty")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := admin.CoordinationV1().Leases("review15b-empty").Create(ctx, &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "rotatord"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e := New(Config{
		Client: admin, Namespace: "review15b-empty", LeaseName: "rotatord", Identity: "replica-a",
		LeaseDuration: 3 * time.Second, RenewDeadline: 2 * time.Second, RetryPeriod: 500 * time.Millisecond,
		Logger: zaptestLogger(t, "replica-a"),
	})
	rctx, rcancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = e.Run(rctx, func(lead context.Context) { <-lead.Done() }) }()
	t.Cleanup(func() { rcancel(); <-done })

	waitCond(t, "A holds the Lease", 20*time.Second, func() bool { return e.Leading() })
	// Three lease durations: far past the one it has to wait.
	deadline := time.Now().Add(9 * time.Second)
	for time.Now().Before(deadline) {
		if e.Check() == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("replica A holds a Lease it took from an empty holder but, three lease durations later, still may not act: %v", e.Check())
}

func zaptestLogger(t *testing.T, name string) *zap.Logger { return zaptest.NewLogger(t).Named(name) }
