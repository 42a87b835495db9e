package leader

import (
	"math"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
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
