// Package metrics owns rotatord's Prometheus metrics: their names, labels
// and help texts, the recorders the engine and the API client report to,
// and a collector that derives per-key gauges from the state store at
// scrape time (so there is no second copy of that state to keep in step).
//
// Every label set is bounded by the config: policy names, sink positions,
// API operation ids and HTTP codes. Key names appear only in
// rotatord_key_created_timestamp_seconds, one series per managed name.
package metrics

import (
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/internal/version"
	"github.com/rotatord/rotatord/rotation"
	"github.com/rotatord/rotatord/state"
)

const namespace = "rotatord"

// Results, the values of the "result" labels.
const (
	ResultSuccess = "success"
	ResultFailure = "failure"
)

// PolicyInfo is what the metrics need to know of a policy.
type PolicyInfo struct {
	Name   string
	MaxAge time.Duration
	Sinks  []string // sink labels, e.g. "file#0"
}

// Metrics holds every collector. Create one per registry with New.
type Metrics struct {
	rotations        *prometheus.CounterVec
	rotationDuration *prometheus.HistogramVec
	lastSuccess      *prometheus.GaugeVec
	orphansDeleted   *prometheus.CounterVec
	deletionsRefused *prometheus.CounterVec
	namesSkipped     *prometheus.CounterVec
	sinkWrites       *prometheus.CounterVec
	apiRequests      *prometheus.CounterVec
	apiDuration      *prometheus.HistogramVec
	maxAge           *prometheus.GaugeVec
	passes           *prometheus.CounterVec
	reloadOK         prometheus.Gauge
	reloadTime       prometheus.Gauge

	mu       sync.Mutex
	policies []PolicyInfo
}

// New creates the metrics and registers them, with a state collector when
// store is not nil.
func New(reg prometheus.Registerer, store *state.Store) *Metrics {
	m := &Metrics{
		rotations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "rotations_total",
			Help: "Rotations finished, by policy and result (success: delivered to every sink; failure: any step failed).",
		}, []string{"policy", "result"}),
		rotationDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "rotation_duration_seconds",
			Help:    "Time from a rotation's start to its delivery to every sink, or to its failure.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}, []string{"policy"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "last_success_timestamp_seconds",
			Help: "When a rotation of the policy last succeeded (Unix time).",
		}, []string{"policy"}),
		orphansDeleted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "orphans_deleted_total",
			Help: "Keys rotatord created whose secret reached no sink, found and deleted.",
		}, []string{"policy"}),
		deletionsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "deletions_refused_total",
			Help: "Keys a state record listed for deletion that the API does not show with the record's name and role, or that the policy no longer matches: left alone.",
		}, []string{"policy"}),
		namesSkipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "names_skipped_total",
			Help: "Key names a policy matched but rotatord does not manage (unsafe characters, too long), counted on every pass; their keys are left alone.",
		}, []string{"policy", "reason"}),
		sinkWrites: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "sink_writes_total",
			Help: "Credential deliveries (write and read back) by policy, sink and result.",
		}, []string{"policy", "sink", "result"}),
		apiRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "api_requests_total",
			Help: "HTTP attempts to the Exoscale API by operation and status code (\"error\": no response).",
		}, []string{"operation", "code"}),
		apiDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "api_request_duration_seconds",
			Help:    "Latency of HTTP attempts to the Exoscale API by operation.",
			Buckets: prometheus.DefBuckets,
		}, []string{"operation"}),
		maxAge: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "policy_max_age_seconds",
			Help: "The max_age of each policy, to compare key ages against in alerts.",
		}, []string{"policy"}),
		passes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "passes_total",
			Help: "Scheduled or manual passes by policy and result (failure: the key listing failed).",
		}, []string{"policy", "result"}),
		reloadOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "config_last_reload_successful",
			Help: "Whether the last configuration load or reload succeeded (1) or kept the previous config (0).",
		}),
		reloadTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "config_last_reload_success_timestamp_seconds",
			Help: "When the configuration was last loaded successfully (Unix time).",
		}),
	}
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "build_info",
		Help: "Always 1; the labels say which rotatord is running.",
	}, []string{"version", "goversion"})
	buildInfo.WithLabelValues(version.String(), runtime.Version()).Set(1)

	reg.MustRegister(m.rotations, m.rotationDuration, m.lastSuccess, m.orphansDeleted, m.deletionsRefused, m.namesSkipped, m.sinkWrites,
		m.apiRequests, m.apiDuration, m.maxAge, m.passes, m.reloadOK, m.reloadTime, buildInfo)
	for _, op := range apiclient.Operations {
		m.apiDuration.WithLabelValues(op)
	}
	if store != nil {
		reg.MustRegister(&stateCollector{store: store, policies: m.policyNames})
	}
	return m
}

// SetPolicies creates every per-policy series at zero and drops the series
// of policies that are gone.
func (m *Metrics) SetPolicies(policies []PolicyInfo) {
	m.mu.Lock()
	old := m.policies
	m.policies = policies
	m.mu.Unlock()

	keep := map[string]bool{}
	for _, p := range policies {
		keep[p.Name] = true
	}
	for _, p := range old {
		if !keep[p.Name] {
			for _, v := range []interface {
				DeletePartialMatch(prometheus.Labels) int
			}{m.rotations, m.rotationDuration, m.lastSuccess, m.orphansDeleted, m.deletionsRefused, m.namesSkipped, m.sinkWrites, m.maxAge, m.passes} {
				v.DeletePartialMatch(prometheus.Labels{"policy": p.Name})
			}
		}
	}
	for _, p := range policies {
		for _, r := range []string{ResultSuccess, ResultFailure} {
			m.rotations.WithLabelValues(p.Name, r)
			m.passes.WithLabelValues(p.Name, r)
			for _, s := range p.Sinks {
				m.sinkWrites.WithLabelValues(p.Name, s, r)
			}
		}
		m.rotationDuration.WithLabelValues(p.Name)
		m.orphansDeleted.WithLabelValues(p.Name)
		m.deletionsRefused.WithLabelValues(p.Name)
		for _, r := range []rotation.SkipReason{rotation.SkipUnsafeCharacters, rotation.SkipTooLong} {
			m.namesSkipped.WithLabelValues(p.Name, string(r))
		}
		m.maxAge.WithLabelValues(p.Name).Set(p.MaxAge.Seconds())
	}
}

func (m *Metrics) policyNames() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	names := make([]string, len(m.policies))
	for i, p := range m.policies {
		names[i] = p.Name
	}
	return names
}

// RotationDone implements rotation.Recorder.
func (m *Metrics) RotationDone(policy string, ok bool, elapsed time.Duration) {
	m.rotations.WithLabelValues(policy, result(ok)).Inc()
	m.rotationDuration.WithLabelValues(policy).Observe(elapsed.Seconds())
	if ok {
		m.lastSuccess.WithLabelValues(policy).SetToCurrentTime()
	}
}

// SinkWrite implements rotation.Recorder.
func (m *Metrics) SinkWrite(policy, sink string, ok bool) {
	m.sinkWrites.WithLabelValues(policy, sink, result(ok)).Inc()
}

// OrphanDeleted implements rotation.Recorder.
func (m *Metrics) OrphanDeleted(policy string) {
	m.orphansDeleted.WithLabelValues(policy).Inc()
}

// DeletionRefused implements rotation.Recorder.
func (m *Metrics) DeletionRefused(policy string) {
	m.deletionsRefused.WithLabelValues(policy).Inc()
}

// NameSkipped implements rotation.Recorder.
func (m *Metrics) NameSkipped(policy string, reason rotation.SkipReason) {
	m.namesSkipped.WithLabelValues(policy, string(reason)).Inc()
}

// PassDone counts a pass of a policy.
func (m *Metrics) PassDone(policy string, ok bool) {
	m.passes.WithLabelValues(policy, result(ok)).Inc()
}

// ObserveAPI is the API client's per-attempt hook.
func (m *Metrics) ObserveAPI(op, code string, elapsed time.Duration) {
	m.apiRequests.WithLabelValues(op, code).Inc()
	m.apiDuration.WithLabelValues(op).Observe(elapsed.Seconds())
}

// ConfigLoaded records the outcome of a load or reload.
func (m *Metrics) ConfigLoaded(ok bool) {
	if ok {
		m.reloadOK.Set(1)
		m.reloadTime.SetToCurrentTime()
		return
	}
	m.reloadOK.Set(0)
}

func result(ok bool) string {
	if ok {
		return ResultSuccess
	}
	return ResultFailure
}

// stateCollector derives gauges from the state store at scrape time.
type stateCollector struct {
	store    *state.Store
	policies func() []string
}

var (
	keyCreatedDesc = prometheus.NewDesc(namespace+"_key_created_timestamp_seconds",
		"When the current key of each managed name was created by rotatord, or first seen (Unix time).",
		[]string{"policy", "name"}, nil)
	pendingDesc = prometheus.NewDesc(namespace+"_keys_pending_deletion",
		"Old keys waiting for their grace period to end before deletion.",
		[]string{"policy"}, nil)
	managedDesc = prometheus.NewDesc(namespace+"_managed_names",
		"Key names each policy manages.",
		[]string{"policy"}, nil)
)

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- keyCreatedDesc
	ch <- pendingDesc
	ch <- managedDesc
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	pending := map[string]int{}
	managed := map[string]int{}
	for _, p := range c.policies() {
		pending[p], managed[p] = 0, 0
	}
	for _, r := range c.store.List("") {
		if _, ok := pending[r.Policy]; !ok {
			continue // a policy no longer in the config
		}
		managed[r.Policy]++
		if !r.CurrentSince.IsZero() {
			ch <- prometheus.MustNewConstMetric(keyCreatedDesc, prometheus.GaugeValue,
				float64(r.CurrentSince.UnixNano())/1e9, r.Policy, r.Name)
		}
		if r.Rotation != nil && r.Rotation.Phase == state.PhaseDelivered {
			n := 0
			for _, id := range r.Rotation.OldKeyIDs {
				if id != r.Rotation.NewKeyID {
					n++
				}
			}
			pending[r.Policy] += n
		}
	}
	for p, n := range pending {
		ch <- prometheus.MustNewConstMetric(pendingDesc, prometheus.GaugeValue, float64(n), p)
		ch <- prometheus.MustNewConstMetric(managedDesc, prometheus.GaugeValue, float64(managed[p]), p)
	}
}
