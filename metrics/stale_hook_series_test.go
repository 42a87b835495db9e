package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestHookSeriesFollowReload: a policy's hook series exist at zero from
// the start, and a reload that removes a hook (or moves it to another
// event) removes its series, as for sinks.
func TestHookSeriesFollowReload(t *testing.T) {
	m := New(prometheus.NewRegistry(), nil)
	m.SetPolicies([]PolicyInfo{{Name: "ci", MaxAge: time.Hour, Hooks: []HookInfo{
		{Label: "exec#0", Event: "before_delete"}, {Label: "webhook#1", Event: "on_failure"},
	}}})
	if n := testutil.CollectAndCount(m.hookRuns); n != 4 { // 2 hooks × {success, failure}
		t.Errorf("at start, rotatord_hook_runs_total has %d series, want 4", n)
	}
	if got := testutil.ToFloat64(m.hookRuns.WithLabelValues("default", "ci", "exec#0", "before_delete", ResultFailure)); got != 0 {
		t.Errorf("exec#0 failures at start = %v, want 0", got)
	}
	m.SetPolicies([]PolicyInfo{{Name: "ci", MaxAge: time.Hour, Hooks: []HookInfo{{Label: "exec#0", Event: "after_delivery"}}}})
	if n := testutil.CollectAndCount(m.hookRuns); n != 2 {
		t.Errorf("after a reload that kept one hook, rotatord_hook_runs_total has %d series, want 2", n)
	}
	if n := testutil.CollectAndCount(m.hookDuration); n != 1 {
		t.Errorf("after a reload that kept one event, rotatord_hook_duration_seconds has %d series, want 1", n)
	}
}
