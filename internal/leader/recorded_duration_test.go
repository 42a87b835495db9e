package leader

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rotatord/rotatord/internal/kubetest"
)

// The leaseDurationSeconds a Lease records is written by whoever may
// write the Lease: a replica, a person by hand, anyone with the right.
// `once` and `state import` wait for the Lease by it when it is longer
// than lease_duration (TakeWait), and checkNoLeader watches the Lease that
// long: an absurd one (2^31-1 seconds, about 68 years) must not make a
// `once` from cron wait for days. The wait must stay within the hour with
// the default configuration, whatever the Lease says, while a plausible
// longer duration (a replica configured longer) is still waited for, and
// one absent, zero or negative changes nothing.
func TestLongestBoundsWhatTheLeaseRecords(t *testing.T) {
	const configured, retry = 15 * time.Second, 2 * time.Second
	secs := func(s int32) *coordinationv1.Lease {
		return &coordinationv1.Lease{Spec: coordinationv1.LeaseSpec{LeaseDurationSeconds: &s}}
	}
	for _, c := range []struct {
		name  string
		lease *coordinationv1.Lease
		want  time.Duration // 0: at most an hour's wait
	}{
		{"no Lease", nil, configured},
		{"no duration", &coordinationv1.Lease{}, configured},
		{"zero", secs(0), configured},
		{"negative", secs(-1), configured},
		{"most negative", secs(math.MinInt32), configured},
		{"a replica configured a minute", secs(60), time.Minute},
		{"a day", secs(86400), 0},
		{"2^31-1 seconds", secs(math.MaxInt32), 0},
	} {
		got := Longest(c.lease, configured)
		switch wait := TakeWait(got, retry); {
		case c.want != 0 && got != c.want:
			t.Errorf("%s: Longest %s, want %s", c.name, got, c.want)
		case c.want == 0 && (wait > time.Hour || wait <= 0 || got < configured):
			t.Errorf("%s: Longest %s, a wait for the Lease of %s: want at least lease_duration %s and a wait of at most an hour", c.name, got, wait, configured)
		}
	}
	// A lease_duration configured longer than the bound is the
	// operator's: kept.
	if got := Longest(secs(math.MaxInt32), 2*time.Hour); got != 2*time.Hour {
		t.Errorf("lease_duration 2h, the Lease recording 2^31-1 seconds: Longest %s, want 2h", got)
	}
}

// Elector.TakeWait, which `once` waits by, reads the Lease from the API
// server: one recording 2^31-1 seconds is waited for within the hour, and
// TooLong says why the wait may end with the Lease still held.
func TestTakeWaitOfALeaseRecordingAnAbsurdDuration(t *testing.T) {
	c := kubetest.Start(t)
	admin := c.Client(t, kubetest.Admin)
	const ns = "lease-absurd"
	c.CreateNamespace(t, ns)
	holder, secs := "rotatord-gone_0001", int32(math.MaxInt32)
	now := metav1.NewMicroTime(time.Now())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.CoordinationV1().Leases(ns).Create(ctx, &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "rotatord"},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &secs, RenewTime: &now},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e := New(Config{
		Client: admin, Namespace: ns, LeaseName: "rotatord", Identity: "once",
		LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second,
		Logger: zaptest.NewLogger(t),
	})
	if e.TooLong() != "" {
		t.Fatalf("TooLong before any TakeWait: %q", e.TooLong())
	}
	if wait := e.TakeWait(ctx); wait > time.Hour {
		t.Errorf("TakeWait of a Lease recording %d seconds: %s, want at most an hour", secs, wait)
	}
	if why := e.TooLong(); !strings.Contains(why, "delete the Lease") {
		t.Errorf("TooLong after TakeWait of a Lease recording %d seconds: %q, want it to say so", secs, why)
	}
}
