package daemon

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/rotatord/rotatord/internal/leader"
)

// `once` interrupted (SIGINT, SIGTERM) while it waits for the Lease: its
// error must say so, not that another replica holds the Lease or that
// the API server refused it, which would send the operator looking for
// a daemon or an RBAC rule that are not the cause.
func TestRunLeadingInterruptedBeforeTheLease(t *testing.T) {
	// Never reached: the election stops at once on the cancelled context.
	client, err := kubernetes.NewForConfig(&rest.Config{Host: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	d := &Daemon{elector: leader.New(leader.Config{
		Client: client, Namespace: "rotatord", LeaseName: "rotatord", Identity: "once",
		LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second,
		Logger: zap.NewNop(),
	})}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the SIGINT, before the Lease was taken
	err = d.RunLeading(ctx, time.Minute, func(context.Context) error {
		t.Error("once ran its pass without the Lease")
		return nil
	})
	if err == nil {
		t.Fatal("RunLeading, interrupted before taking the Lease, returned no error")
	}
	if msg := err.Error(); strings.Contains(msg, "another replica holds") || strings.Contains(msg, "refuses") || !strings.Contains(msg, "interrupted") {
		t.Errorf("RunLeading interrupted before taking the Lease: %q, want it to say it was interrupted", msg)
	}
}
