package metrics

import (
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// rotatord_leader asks at each scrape, not when told: it follows the
// answer of the function SetLeader gave it, and reads 0 before any.
func TestLeaderGaugeAsksAtEachScrape(t *testing.T) {
	m, _, _ := newTestMetrics(t)
	if got := testutil.ToFloat64(m.leader); got != 0 {
		t.Fatalf("rotatord_leader = %v before SetLeader, want 0", got)
	}
	var acting atomic.Bool
	m.SetLeader(acting.Load)
	for _, v := range []bool{true, false, true} {
		acting.Store(v)
		want := 0.0
		if v {
			want = 1
		}
		if got := testutil.ToFloat64(m.leader); got != want {
			t.Errorf("acting %v: rotatord_leader = %v, want %v", v, got, want)
		}
	}
}
