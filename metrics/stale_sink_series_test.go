package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestNoStaleSinkSeriesAfterReload: SetPolicies drops the series
// of policies that are gone, but not those of a sink that is gone from a
// policy that stays. After a reload that removes a policy's second sink,
// rotatord_sink_writes_total{sink="file#1"} stays exported at 0 for ever
// (pre-created zeros never change again), so a dashboard or an
// "increase(... result=failure)" query keeps a series for a sink that no
// longer exists, and a reload that swaps sink types (file#1 -> vault#1)
// grows the series set each time. Fix: in SetPolicies, delete the
// sink_writes series whose (policy, sink) is not in the new PolicyInfo.
func TestNoStaleSinkSeriesAfterReload(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg, nil)
	m.SetPolicies([]PolicyInfo{{Name: "ci", MaxAge: time.Hour, Sinks: []string{"file#0", "file#1"}}})
	m.SetPolicies([]PolicyInfo{{Name: "ci", MaxAge: time.Hour, Sinks: []string{"file#0"}}})
	n := testutil.CollectAndCount(m.sinkWrites)
	if n != 2 { // file#0 × {success, failure}
		var b strings.Builder
		mfs, _ := reg.Gather()
		for _, mf := range mfs {
			if mf.GetName() == "rotatord_sink_writes_total" {
				for _, mm := range mf.GetMetric() {
					b.WriteString(mm.String() + "\n")
				}
			}
		}
		t.Errorf("after a reload that removed sink file#1, rotatord_sink_writes_total has %d series, want 2:\n%s", n, b.String())
	}
}
