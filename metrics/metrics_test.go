package metrics

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rotatord/rotatord/state"
)

// newTestMetrics returns the metrics over a store, and a gatherer of all
// they export (the registry and the per-name series).
func newTestMetrics(t *testing.T) (*Metrics, prometheus.Gatherer, *state.Store) {
	t.Helper()
	m, reg, store := newStoreMetrics(t, PolicyInfo{Name: "ci", MaxAge: 30 * 24 * time.Hour, Sinks: []string{"file#0", "vault#1"}})
	return m, m.Gatherer(reg), store
}

// newStoreMetrics returns metrics over an empty store, with policies, and
// the registry they were registered in.
func newStoreMetrics(t testing.TB, policies ...PolicyInfo) (*Metrics, *prometheus.Registry, *state.Store) {
	t.Helper()
	store, err := state.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	reg := prometheus.NewRegistry()
	m := New(reg, store)
	if len(policies) > 0 {
		m.SetPolicies(policies)
	}
	return m, reg, store
}

func TestExpositionPassesLint(t *testing.T) {
	m, reg, store := newTestMetrics(t)
	m.RotationDone("ci", true, 2*time.Second)
	m.RotationDone("ci", false, time.Second)
	m.SinkWrite("ci", "file#0", true)
	m.OrphanDeleted("ci")
	m.ObserveAPI("default", "list-api-keys", "200", 10*time.Millisecond)
	m.ConfigLoaded(true)
	m.PassDone("ci", true)
	now := time.Now()
	if err := store.Put(state.Record{Policy: "ci", Name: "ci-runner", CurrentKeyID: "EXO1", CurrentSince: now,
		Rotation: &state.Rotation{Phase: state.PhaseDelivered, OldKeyIDs: []string{"EXO0", "EXOz"}, NewKeyID: "EXO1"}}); err != nil {
		t.Fatal(err)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	want := `
# HELP rotatord_keys_pending_deletion Old keys waiting for their grace period to end before deletion.
# TYPE rotatord_keys_pending_deletion gauge
rotatord_keys_pending_deletion{account="default",policy="ci"} 2
# HELP rotatord_rotations_total Rotations finished, by policy and result (success: delivered to every sink; failure: any step failed).
# TYPE rotatord_rotations_total counter
rotatord_rotations_total{account="default",policy="ci",result="failure"} 1
rotatord_rotations_total{account="default",policy="ci",result="success"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "rotatord_keys_pending_deletion", "rotatord_rotations_total"); err != nil {
		t.Error(err)
	}
	if got := testutil.ToFloat64(m.lastSuccess.WithLabelValues("default", "ci")); got < float64(now.Unix()-60) {
		t.Errorf("last success = %v, want about now", got)
	}
}

func TestSeriesExistAtZero(t *testing.T) {
	_, reg, _ := newTestMetrics(t)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]int{}
	for _, mf := range mfs {
		have[mf.GetName()] = len(mf.GetMetric())
	}
	for name, want := range map[string]int{
		"rotatord_rotations_total":              2, // success, failure
		"rotatord_sink_writes_total":            4, // 2 sinks x 2 results
		"rotatord_orphans_deleted_total":        1,
		"rotatord_keys_pending_deletion":        1,
		"rotatord_policy_max_age_seconds":       1,
		"rotatord_build_info":                   1,
		"rotatord_api_request_duration_seconds": 6,
		"rotatord_state_records":                4, // none, intent, created, delivered
		"rotatord_ready":                        1,
	} {
		if have[name] != want {
			t.Errorf("%s: %d series at start, want %d", name, have[name], want)
		}
	}
}

func TestRemovedPolicyDropsItsSeries(t *testing.T) {
	m, reg, _ := newTestMetrics(t)
	m.SetPolicies([]PolicyInfo{{Name: "other", MaxAge: time.Hour}})
	n, err := testutil.GatherAndCount(reg, "rotatord_rotations_total")
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("rotations_total has %d series after the policy set changed, want 2 (only policy other)", n)
	}
}

func TestKeyCreatedTimestamp(t *testing.T) {
	_, reg, store := newTestMetrics(t)
	since := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	store.Put(state.Record{Policy: "ci", Name: "ci-runner", CurrentKeyID: "EXO1", CurrentSince: since})
	store.Put(state.Record{Policy: "ci", Name: "ci-unknown-age", CurrentKeyID: "EXO2"})
	store.Put(state.Record{Policy: "gone", Name: "x", CurrentKeyID: "EXO3", CurrentSince: since})
	want := `
# HELP rotatord_key_created_timestamp_seconds When the current key of each managed name was created by rotatord, or first seen (Unix time).
# TYPE rotatord_key_created_timestamp_seconds gauge
rotatord_key_created_timestamp_seconds{account="default",name="ci-runner",policy="ci"} 1.7934912e+09
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "rotatord_key_created_timestamp_seconds"); err != nil {
		t.Error(err)
	}
}

// TestKeyCreatedSeriesFollowTheRecords: the per-name series are cached
// between scrapes; a rotation changes the value, a name gone drops its
// series, a name added shows, and each scrape lists them in name order.
func TestKeyCreatedSeriesFollowTheRecords(t *testing.T) {
	_, reg, store := newTestMetrics(t)
	t0 := time.Unix(1_700_000_000, 0)
	put := func(name string, since time.Time) {
		t.Helper()
		if err := store.Put(state.Record{Policy: "ci", Name: name, CurrentKeyID: "EXO" + name, CurrentSince: since}); err != nil {
			t.Fatal(err)
		}
	}
	scrape := func() []string {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, mf := range mfs {
			if mf.GetName() != "rotatord_key_created_timestamp_seconds" {
				continue
			}
			for _, m := range mf.GetMetric() {
				var name string
				for _, l := range m.GetLabel() {
					if l.GetName() == "name" {
						name = l.GetValue()
					}
				}
				out = append(out, fmt.Sprintf("%s=%.0f", name, m.GetGauge().GetValue()))
			}
		}
		return out
	}
	put("ci-b", t0)
	put("ci-a", t0)
	if got, want := strings.Join(scrape(), " "), "ci-a=1700000000 ci-b=1700000000"; got != want {
		t.Fatalf("first scrape: %s, want %s", got, want)
	}
	put("ci-b", t0.Add(time.Hour)) // rotated
	if got, want := strings.Join(scrape(), " "), "ci-a=1700000000 ci-b=1700003600"; got != want {
		t.Fatalf("after a rotation: %s, want %s", got, want)
	}
	if err := store.Delete("ci", "ci-a"); err != nil {
		t.Fatal(err)
	}
	put("ci-c", t0)
	if got, want := strings.Join(scrape(), " "), "ci-b=1700003600 ci-c=1700000000"; got != want {
		t.Fatalf("a name gone and one added: %s, want %s", got, want)
	}
	if got, want := strings.Join(scrape(), " "), "ci-b=1700003600 ci-c=1700000000"; got != want {
		t.Fatalf("again, nothing changed: %s, want %s", got, want)
	}
}

// TestAPILimits: the limit gauges read the function at each scrape, one
// series per account; none without it.
func TestAPILimits(t *testing.T) {
	m, reg, _ := newTestMetrics(t)
	if n, err := testutil.GatherAndCount(reg, "rotatord_api_rate_limit_requests_per_second", "rotatord_api_in_flight_limit"); err != nil || n != 0 {
		t.Fatalf("%d series before SetAPILimits (%v), want none", n, err)
	}
	rate := 1000.0
	m.SetAPILimits(func() []APILimits {
		return []APILimits{{Account: "default", Rate: rate, InFlight: 4}, {Account: "prod", Rate: 20, InFlight: 2}}
	})
	rate = 45.5 // read at scrape time, not when set
	want := `
# HELP rotatord_api_in_flight_limit The requests the API client lets be in flight at once now: exoscale.concurrency until a request that filled the window is refused (429 or 503), then halved, growing back by one after quiet spells.
# TYPE rotatord_api_in_flight_limit gauge
rotatord_api_in_flight_limit{account="default"} 4
rotatord_api_in_flight_limit{account="prod"} 2
# HELP rotatord_api_rate_limit_requests_per_second The request rate the API client allows itself now: exoscale.rate_limit until the API answers 429 or 503, then just under what it let through, climbing back while it does not push back.
# TYPE rotatord_api_rate_limit_requests_per_second gauge
rotatord_api_rate_limit_requests_per_second{account="default"} 45.5
rotatord_api_rate_limit_requests_per_second{account="prod"} 20
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "rotatord_api_rate_limit_requests_per_second", "rotatord_api_in_flight_limit"); err != nil {
		t.Error(err)
	}
}
