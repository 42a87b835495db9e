// Package metrics owns rotatord's Prometheus metrics: their names, labels
// and help texts, the recorders the engine and the API client report to,
// a collector that derives per-policy gauges from the state store at
// scrape time (so there is no second copy of that state to keep in step),
// and the /metrics handler, which adds the per-name series from a cache of
// their exposition text.
//
// Every label set is bounded by the config: policy names, sink positions,
// API operation ids and HTTP codes. Key names appear only in
// rotatord_key_created_timestamp_seconds, one series per managed name, and
// in rotatord_hook_failing, one series per name and hook whose latest run
// failed (none at 0).
package metrics

import (
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/internal/window"
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
	Name string
	// Account is the account the policy works on; empty is "default".
	Account string
	MaxAge  time.Duration
	Jitter  time.Duration
	// GracePeriod is the policy's in force: a deletion is due at the
	// later of the end its rotation recorded and its delivery plus this
	// (state.Rotation.DeleteAt).
	GracePeriod time.Duration
	// Windows gate the policy's creates and deletions: a deletion due
	// outside them is due at the next opening, and a key may wait up to
	// their longest closed stretch past max_age.
	Windows window.Set
	Sinks   []string // sink labels, e.g. "file#0"
	Hooks   []HookInfo
	// SinkCheck: the policy checks its sinks between rotations, or is
	// rotatord's own key's, whose credential store found lost is counted
	// (rotatord_sink_checks_total, created at zero).
	SinkCheck bool
}

// HookInfo names one hook of a policy, as rotatord_hook_runs_total labels it.
type HookInfo struct {
	Label string // "exec#0", "webhook#1"
	Event string // after_delivery, before_delete or on_failure
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
	sinkChecks       *prometheus.CounterVec
	apiRequests      *prometheus.CounterVec
	apiDuration      *prometheus.HistogramVec
	maxAge           *prometheus.GaugeVec
	jitter           *prometheus.GaugeVec
	windowClosed     *prometheus.GaugeVec
	leader           prometheus.GaugeFunc
	acting           atomic.Pointer[func() bool] // what leader reads
	leaderChanges    prometheus.Counter
	passes           *prometheus.CounterVec
	hookRuns         *prometheus.CounterVec
	hookDuration     *prometheus.HistogramVec
	reloadOK         prometheus.Gauge
	reloadTime       prometheus.Gauge
	// failing is rotatord_hook_failing: the names gone are dropped by the
	// key series' refresh, the hooks and policies gone by SetPolicies.
	failing hookFailing

	mu        sync.Mutex
	policies  []PolicyInfo
	policyGen uint64            // counts SetPolicies: what was derived from policies still holds while it stands
	accountOf map[string]string // policy -> account
	accounts  map[string]bool
	hooks     map[[4]string]bool // account, policy, hook, event of the hooks in force
	ready     func() bool

	// keys are the per-name series, outside the registry (nil without a
	// store): see Gatherer and Handler.
	keys *keySeries
	// limits reads each account's adaptive API limits at scrape time.
	limits func() []APILimits
}

// APILimits is what an account's API client allows itself now.
type APILimits struct {
	Account  string
	Rate     float64 // requests per second
	InFlight int     // requests at once
}

// RecordSource gives the state records of a policy: a *state.Store, or
// the daemon's view over the stores of every account. Each calls fn with
// each record, without copying it; fn keeps nothing.
//
// A source that is also a state.Versioned is read again only when its
// Version has moved (or the policies changed): the per-name series and
// the state gauges are worked out once per change, not once per scrape.
type RecordSource interface {
	Each(policy string, fn func(r *state.Record))
}

// recordsStamp says what the series derived from a RecordSource were
// derived from. Two equal stamps with ok set mean the same records under
// the same policies.
type recordsStamp struct {
	version, policyGen uint64
	ok                 bool // the source is versioned
}

// stampOf is taken before the source is read: a change while it is read
// moves the version, and the next reader reads again.
func stampOf(src RecordSource, policyGen uint64) recordsStamp {
	v, ok := src.(state.Versioned)
	if !ok {
		return recordsStamp{}
	}
	return recordsStamp{version: v.Version(), policyGen: policyGen, ok: true}
}

// holds reports whether what was derived under s still holds now, at now.
func (s recordsStamp) holds(now recordsStamp) bool { return s.ok && s == now }

// New creates the metrics and registers them, with a state collector when
// store is not nil. The per-name series (rotatord_key_created_timestamp_seconds)
// stay outside reg: serve /metrics with Handler, and gather everything with
// Gatherer.
func New(reg prometheus.Registerer, store RecordSource) *Metrics {
	m := &Metrics{
		rotations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "rotations_total",
			Help: "Rotations finished, by policy and result (success: delivered to every sink; failure: any step failed).",
		}, []string{"account", "policy", "result"}),
		rotationDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "rotation_duration_seconds",
			Help:    "Time from a rotation's start to its delivery to every sink, or to its failure.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}, []string{"account", "policy"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "last_success_timestamp_seconds",
			Help: "When a rotation of the policy last succeeded (Unix time).",
		}, []string{"account", "policy"}),
		orphansDeleted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "orphans_deleted_total",
			Help: "Keys rotatord created whose secret reached no sink, found and deleted.",
		}, []string{"account", "policy"}),
		deletionsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "deletions_refused_total",
			Help: "Keys a state record listed for deletion that the API does not show with the record's name and role, or that the policy no longer matches: left alone.",
		}, []string{"account", "policy"}),
		namesSkipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "names_skipped_total",
			Help: "Key names a policy matched but rotatord does not manage (unsafe characters, too long), counted on every pass; their keys are left alone.",
		}, []string{"account", "policy", "reason"}),
		sinkWrites: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "sink_writes_total",
			Help: "Credential deliveries (write and read back) by policy, sink and result.",
		}, []string{"account", "policy", "sink", "result"}),
		sinkChecks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "sink_checks_total",
			Help: "Reads of a sink by the check between rotations (sink_check), by what it found: held (the current key), lost (nothing or another key: refilled from another sink, else the name rotates) or unknown (the sink could not be read).",
		}, []string{"account", "policy", "sink", "state"}),
		apiRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "api_requests_total",
			Help: "HTTP attempts to the Exoscale API by operation and status code (\"error\": no response).",
		}, []string{"account", "operation", "code"}),
		apiDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "api_request_duration_seconds",
			Help:    "Latency of HTTP attempts to the Exoscale API by operation.",
			Buckets: prometheus.DefBuckets,
		}, []string{"account", "operation"}),
		maxAge: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "policy_max_age_seconds",
			Help: "The max_age of each policy, to compare key ages against in alerts.",
		}, []string{"account", "policy"}),
		jitter: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "policy_jitter_seconds",
			Help: "The jitter of each policy: a key may be this much older than max_age before it is due.",
		}, []string{"account", "policy"}),
		windowClosed: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "policy_window_closed_max_seconds",
			Help: "The longest stretch in the coming fortnight with none of the policy's windows open (0 without windows): how long a due rotation may wait.",
		}, []string{"account", "policy"}),
		leaderChanges: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "leader_changes_total",
			Help: "Leaders this process saw elected (leader_election): a replica taking the Lease over.",
		}),
		passes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "passes_total",
			Help: "Scheduled or manual passes by policy and result (failure: the key listing failed).",
		}, []string{"account", "policy", "result"}),
		hookRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "hook_runs_total",
			Help: "Hook runs by policy, hook (exec#0, webhook#1), event (after_delivery, before_delete, on_failure) and result.",
		}, []string{"account", "policy", "hook", "event", "result"}),
		hookDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "hook_duration_seconds",
			Help:    "How long hook runs took.",
			Buckets: []float64{0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60},
		}, []string{"account", "policy", "event"}),
		reloadOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "config_last_reload_successful",
			Help: "Whether the last configuration load or reload succeeded (1) or kept the previous config (0).",
		}),
		reloadTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "config_last_reload_success_timestamp_seconds",
			Help: "When the configuration was last loaded successfully (Unix time).",
		}),
	}
	m.leader = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: namespace, Name: "leader",
		Help: "1 while this process acts (it holds the Lease with leader_election; always without), 0 on a standby.",
	}, func() float64 {
		if f := m.acting.Load(); f != nil && (*f)() {
			return 1
		}
		return 0
	})
	reg.MustRegister(m.rotations, m.rotationDuration, m.lastSuccess, m.orphansDeleted, m.deletionsRefused, m.namesSkipped, m.sinkWrites, m.sinkChecks, m.hookRuns, m.hookDuration,
		m.apiRequests, m.apiDuration, m.maxAge, m.jitter, m.windowClosed, m.leader, m.leaderChanges, m.passes, m.reloadOK, m.reloadTime,
		newBuildInfo(BuildInfo()), readyCollector{m}, limitsCollector{m}, hookFailingCollector{m})
	// What every exporter has: go_* (runtime, memory, GC) and process_*
	// (CPU, resident memory, open files, start time). A registry that
	// has them already (Prometheus's default one) keeps its own.
	for _, c := range []prometheus.Collector{collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		if err := reg.Register(c); err != nil {
			var dup prometheus.AlreadyRegisteredError
			if !errors.As(err, &dup) {
				panic(err)
			}
		}
	}
	if store != nil {
		reg.MustRegister(&stateCollector{store: store, policies: m.policySnapshot})
		m.keys = newKeySeries(store, m.policySnapshot)
		m.keys.failing = &m.failing
	}
	return m
}

// SetPolicies creates every per-policy series at zero and drops the series
// of policies that are gone.
func (m *Metrics) SetPolicies(policies []PolicyInfo) {
	for i := range policies {
		if policies[i].Account == "" {
			policies[i].Account = defaultAccount
		}
	}
	m.mu.Lock()
	old := m.policies
	m.policies = policies
	m.policyGen++
	m.accountOf = map[string]string{}
	m.hooks = map[[4]string]bool{}
	accounts := map[string]bool{}
	for _, p := range policies {
		m.accountOf[p.Name] = p.Account
		accounts[p.Account] = true
		for _, h := range p.Hooks {
			m.hooks[[4]string{p.Account, p.Name, h.Label, h.Event}] = true
		}
	}
	oldAccounts := m.accounts
	m.accounts = accounts
	// rotatord_hook_failing of a hook a reload removed or moved to another
	// event, or of a policy gone or moved to another account: under mu,
	// as HookRun adds, so that a run that outlasted the reload adds none
	// back (no run would clear it).
	m.failing.drop(func(k hookFailingKey) bool { return m.hooks[[4]string{k.account, k.policy, k.hook, k.event}] })
	m.mu.Unlock()

	type key struct{ account, policy string }
	keep := map[key]bool{}
	keepSink := map[[3]string]bool{}
	keepCheck := map[[3]string]bool{} // account, policy, sink of the policies with sink_check
	keepHook := map[[4]string]bool{}  // account, policy, hook, event
	keepEvent := map[[3]string]bool{} // account, policy, event
	for _, p := range policies {
		keep[key{p.Account, p.Name}] = true
		for _, s := range p.Sinks {
			keepSink[[3]string{p.Account, p.Name, s}] = true
			if p.SinkCheck {
				keepCheck[[3]string{p.Account, p.Name, s}] = true
			}
		}
		for _, h := range p.Hooks {
			keepHook[[4]string{p.Account, p.Name, h.Label, h.Event}] = true
			keepEvent[[3]string{p.Account, p.Name, h.Event}] = true
		}
	}
	for _, p := range old {
		// A sink a reload removed (or whose kind changed): its series go.
		for _, s := range p.Sinks {
			if keep[key{p.Account, p.Name}] && !keepSink[[3]string{p.Account, p.Name, s}] {
				m.sinkWrites.DeletePartialMatch(prometheus.Labels{"account": p.Account, "policy": p.Name, "sink": s})
			}
			if !keepCheck[[3]string{p.Account, p.Name, s}] {
				m.sinkChecks.DeletePartialMatch(prometheus.Labels{"account": p.Account, "policy": p.Name, "sink": s})
			}
		}
		// Likewise a hook a reload removed, or moved to another event.
		for _, h := range p.Hooks {
			if keep[key{p.Account, p.Name}] && !keepHook[[4]string{p.Account, p.Name, h.Label, h.Event}] {
				m.hookRuns.DeletePartialMatch(prometheus.Labels{"account": p.Account, "policy": p.Name, "hook": h.Label, "event": h.Event})
			}
			if keep[key{p.Account, p.Name}] && !keepEvent[[3]string{p.Account, p.Name, h.Event}] {
				m.hookDuration.DeletePartialMatch(prometheus.Labels{"account": p.Account, "policy": p.Name, "event": h.Event})
			}
		}
		// A policy gone, or moved to another account.
		if !keep[key{p.Account, p.Name}] {
			for _, v := range []interface {
				DeletePartialMatch(prometheus.Labels) int
			}{m.rotations, m.rotationDuration, m.lastSuccess, m.orphansDeleted, m.deletionsRefused, m.namesSkipped, m.sinkWrites, m.sinkChecks, m.maxAge, m.jitter, m.windowClosed, m.passes, m.hookRuns, m.hookDuration} {
				v.DeletePartialMatch(prometheus.Labels{"account": p.Account, "policy": p.Name})
			}
		}
	}
	for a := range oldAccounts {
		if !accounts[a] {
			m.apiRequests.DeletePartialMatch(prometheus.Labels{"account": a})
			m.apiDuration.DeletePartialMatch(prometheus.Labels{"account": a})
		}
	}
	for a := range accounts {
		for _, op := range apiclient.Operations {
			m.apiDuration.WithLabelValues(a, op)
		}
	}
	for _, p := range policies {
		for _, r := range []string{ResultSuccess, ResultFailure} {
			m.rotations.WithLabelValues(p.Account, p.Name, r)
			m.passes.WithLabelValues(p.Account, p.Name, r)
			for _, s := range p.Sinks {
				m.sinkWrites.WithLabelValues(p.Account, p.Name, s, r)
			}
			// At zero, so that increase() sees a hook's first failure
			// (RotatordHookFailing): a series born at 1 shows none.
			for _, h := range p.Hooks {
				m.hookRuns.WithLabelValues(p.Account, p.Name, h.Label, h.Event, r)
			}
		}
		for _, h := range p.Hooks {
			m.hookDuration.WithLabelValues(p.Account, p.Name, h.Event)
		}
		if p.SinkCheck {
			// At zero, for increase() on the first loss.
			for _, s := range p.Sinks {
				for _, r := range []string{rotation.SinkHeld, rotation.SinkLost, rotation.SinkUnknown} {
					m.sinkChecks.WithLabelValues(p.Account, p.Name, s, r)
				}
			}
		}
		m.rotationDuration.WithLabelValues(p.Account, p.Name)
		m.orphansDeleted.WithLabelValues(p.Account, p.Name)
		m.deletionsRefused.WithLabelValues(p.Account, p.Name)
		for _, r := range []rotation.SkipReason{rotation.SkipUnsafeCharacters, rotation.SkipTooLong} {
			m.namesSkipped.WithLabelValues(p.Account, p.Name, string(r))
		}
		m.maxAge.WithLabelValues(p.Account, p.Name).Set(p.MaxAge.Seconds())
		m.jitter.WithLabelValues(p.Account, p.Name).Set(p.Jitter.Seconds())
		m.windowClosed.WithLabelValues(p.Account, p.Name).Set(p.Windows.LongestClosed(time.Now()).Seconds())
	}
}

// SetLeader gives rotatord_leader the question it asks at each scrape:
// whether this process acts now. Asked, not told: a leader woken from a
// pause past its claim (SIGSTOP, a suspended VM) must read 0 at once, as
// its fence does, not when its election loop next looks at the Lease.
func (m *Metrics) SetLeader(acting func() bool) { m.acting.Store(&acting) }

// LeaderChanged counts a leader elected.
func (m *Metrics) LeaderChanged() { m.leaderChanges.Inc() }

// defaultAccount labels the exoscale block's account (config.DefaultAccount).
const defaultAccount = "default"

// policySnapshot returns the policies and their generation.
func (m *Metrics) policySnapshot() ([]PolicyInfo, uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.policies), m.policyGen
}

// account returns the account label of a policy.
func (m *Metrics) account(policy string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if a, ok := m.accountOf[policy]; ok {
		return a
	}
	return defaultAccount
}

// RotationDone implements rotation.Recorder.
func (m *Metrics) RotationDone(policy string, ok bool, elapsed time.Duration) {
	a := m.account(policy)
	m.rotations.WithLabelValues(a, policy, result(ok)).Inc()
	m.rotationDuration.WithLabelValues(a, policy).Observe(elapsed.Seconds())
	if ok {
		m.lastSuccess.WithLabelValues(a, policy).SetToCurrentTime()
	}
}

// SinkWrite implements rotation.Recorder.
func (m *Metrics) SinkWrite(policy, sink string, ok bool) {
	m.sinkWrites.WithLabelValues(m.account(policy), policy, sink, result(ok)).Inc()
}

// SinkChecked implements rotation.Recorder.
func (m *Metrics) SinkChecked(policy, sink, result string) {
	m.sinkChecks.WithLabelValues(m.account(policy), policy, sink, result).Inc()
}

// OrphanDeleted implements rotation.Recorder.
func (m *Metrics) OrphanDeleted(policy string) {
	m.orphansDeleted.WithLabelValues(m.account(policy), policy).Inc()
}

// DeletionRefused implements rotation.Recorder.
func (m *Metrics) DeletionRefused(policy string) {
	m.deletionsRefused.WithLabelValues(m.account(policy), policy).Inc()
}

// NameSkipped implements rotation.Recorder.
func (m *Metrics) NameSkipped(policy string, reason rotation.SkipReason) {
	m.namesSkipped.WithLabelValues(m.account(policy), policy, string(reason)).Inc()
}

// HookRun implements rotation.Recorder.
func (m *Metrics) HookRun(policy, name, hook, event string, ok bool, elapsed time.Duration) {
	a := m.account(policy)
	m.hookRuns.WithLabelValues(a, policy, hook, event, result(ok)).Inc()
	m.hookDuration.WithLabelValues(a, policy, event).Observe(elapsed.Seconds())
	m.mu.Lock()
	defer m.mu.Unlock()
	if ok || m.hooks[[4]string{a, policy, hook, event}] {
		// A hook no longer in force (a reload removed it while it ran)
		// gets no series: nothing would run it again to clear it.
		m.failing.ran(hookFailingKey{a, policy, name, hook, event}, ok)
	}
}

// PassDone counts a pass of a policy.
func (m *Metrics) PassDone(policy string, ok bool) {
	m.passes.WithLabelValues(m.account(policy), policy, result(ok)).Inc()
}

// ObserveAPI is the API client's per-attempt hook, for one account.
func (m *Metrics) ObserveAPI(account, op, code string, elapsed time.Duration) {
	m.apiRequests.WithLabelValues(account, op, code).Inc()
	m.apiDuration.WithLabelValues(account, op).Observe(elapsed.Seconds())
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

// SetReady gives the readiness the rotatord_ready gauge reports: the
// function /readyz answers with. Until it is set, the gauge is 0.
func (m *Metrics) SetReady(ready func() bool) {
	m.mu.Lock()
	m.ready = ready
	m.mu.Unlock()
}

// SetAPILimits gives the function the API limit gauges read at each
// scrape: one entry per account whose client exists.
func (m *Metrics) SetAPILimits(limits func() []APILimits) {
	m.mu.Lock()
	m.limits = limits
	m.mu.Unlock()
}

var (
	rateLimitDesc = prometheus.NewDesc(namespace+"_api_rate_limit_requests_per_second",
		"The request rate the API client allows itself now: exoscale.rate_limit until the API answers 429 or 503, then just under what it let through, climbing back while it does not push back.",
		[]string{"account"}, nil)
	inFlightLimitDesc = prometheus.NewDesc(namespace+"_api_in_flight_limit",
		"The requests the API client lets be in flight at once now: exoscale.concurrency until a request that filled the window is refused (429 or 503), then halved, growing back by one after quiet spells.",
		[]string{"account"}, nil)
)

// limitsCollector reads the clients' adaptive limits at scrape time: an
// operator sees that rotatord slowed itself down, and to what.
type limitsCollector struct{ m *Metrics }

func (c limitsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- rateLimitDesc
	ch <- inFlightLimitDesc
}

func (c limitsCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.mu.Lock()
	limits := c.m.limits
	c.m.mu.Unlock()
	if limits == nil {
		return
	}
	for _, l := range limits() {
		ch <- prometheus.MustNewConstMetric(rateLimitDesc, prometheus.GaugeValue, l.Rate, l.Account)
		ch <- prometheus.MustNewConstMetric(inFlightLimitDesc, prometheus.GaugeValue, float64(l.InFlight), l.Account)
	}
}

var readyDesc = prometheus.NewDesc(namespace+"_ready",
	"1 when rotatord is ready (/readyz answers 200: the last pass listed the API keys), else 0.",
	nil, nil)

// readyCollector reads the readiness at scrape time, so the gauge and
// /readyz never disagree.
type readyCollector struct{ m *Metrics }

func (c readyCollector) Describe(ch chan<- *prometheus.Desc) { ch <- readyDesc }

func (c readyCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.mu.Lock()
	ready := c.m.ready
	c.m.mu.Unlock()
	v := 0.0
	if ready != nil && ready() {
		v = 1
	}
	ch <- prometheus.MustNewConstMetric(readyDesc, prometheus.GaugeValue, v)
}

// PhaseNone is the phase label of a state record with no rotation in
// flight; the others are the state.Phase values.
const PhaseNone = "none"

// Phases are the values of the phase label of rotatord_state_records, in
// the order a rotation goes through them.
var Phases = []string{PhaseNone, string(state.PhaseIntent), string(state.PhaseCreated), string(state.PhaseDelivered)}

// PhaseSince is when a rotation entered its phase: its start for intent,
// its key's creation for created, its delivery for delivered (the start
// when a record lacks the time).
func PhaseSince(rot *state.Rotation) time.Time {
	var t time.Time
	switch rot.Phase {
	case state.PhaseCreated:
		t = rot.NewCreatedAt
	case state.PhaseDelivered:
		t = rot.DeliveredAt
	}
	if t.IsZero() {
		t = rot.StartedAt
	}
	return t
}

// stateCollector derives gauges from the state store at scrape time. The
// per-name series are keySeries's.
type stateCollector struct {
	store    RecordSource
	policies func() ([]PolicyInfo, uint64)

	mu     sync.Mutex // makes Collects take turns
	stamp  recordsStamp
	states []policyState // one per policy, worked out under stamp
}

var (
	pendingDesc = prometheus.NewDesc(namespace+"_keys_pending_deletion",
		"Old keys waiting for their grace period to end before deletion.",
		[]string{"account", "policy"}, nil)
	managedDesc = prometheus.NewDesc(namespace+"_managed_names",
		"Key names each policy manages.",
		[]string{"account", "policy"}, nil)
	recordsDesc = prometheus.NewDesc(namespace+"_state_records",
		"State records by policy and the phase of their rotation in flight (none, intent, created, delivered).",
		[]string{"account", "policy", "phase"}, nil)
	phaseOldestDesc = prometheus.NewDesc(namespace+"_state_oldest_phase_timestamp_seconds",
		"When the record longest in each phase of a rotation in flight entered it (intent: started; created: key created; delivered: delivered), Unix time; absent while no record is in the phase.",
		[]string{"account", "policy", "phase"}, nil)
	deletionDueDesc = prometheus.NewDesc(namespace+"_state_oldest_deletion_due_timestamp_seconds",
		"The earliest delete_after of the policy's delivered rotations, moved to the next opening of the policy's windows: when the longest-waiting old keys became (or become) deletable, Unix time; absent while none waits.",
		[]string{"account", "policy"}, nil)
)

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- pendingDesc
	ch <- managedDesc
	ch <- recordsDesc
	ch <- phaseOldestDesc
	ch <- deletionDueDesc
}

// policyState is what the collector adds up for one policy.
type policyState struct {
	account, policy  string
	pending, managed int
	records          map[string]int       // by phase label
	oldest           map[string]time.Time // by phase label, rotations in flight only
	deletionDue      time.Time
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	for _, ps := range c.current() {
		a, p := ps.account, ps.policy
		ch <- prometheus.MustNewConstMetric(pendingDesc, prometheus.GaugeValue, float64(ps.pending), a, p)
		ch <- prometheus.MustNewConstMetric(managedDesc, prometheus.GaugeValue, float64(ps.managed), a, p)
		for ph, n := range ps.records {
			ch <- prometheus.MustNewConstMetric(recordsDesc, prometheus.GaugeValue, float64(n), a, p, ph)
		}
		for ph, t := range ps.oldest {
			ch <- prometheus.MustNewConstMetric(phaseOldestDesc, prometheus.GaugeValue, unixSeconds(t), a, p, ph)
		}
		if !ps.deletionDue.IsZero() {
			ch <- prometheus.MustNewConstMetric(deletionDueDesc, prometheus.GaugeValue, unixSeconds(ps.deletionDue), a, p)
		}
	}
}

// current returns each policy's sums, added up again only when the
// records or the policies changed since the last time. Nothing in them
// depends on the time of the scrape. The slice is shared: callers only
// read it.
func (c *stateCollector) current() []policyState {
	policies, gen := c.policies()
	stamp := stampOf(c.store, gen)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stamp.holds(stamp) {
		return c.states
	}
	states := make([]policyState, 0, len(policies))
	for _, p := range policies {
		ps := policyState{account: p.Account, policy: p.Name, records: map[string]int{}, oldest: map[string]time.Time{}}
		for _, ph := range Phases {
			ps.records[ph] = 0
		}
		// Under the store's lock: only add up here, send once it is
		// released.
		c.store.Each(p.Name, func(r *state.Record) {
			ps.managed++
			ps.add(p, r.Rotation)
		})
		states = append(states, ps)
	}
	c.stamp, c.states = stamp, states
	return states
}

// add counts a record's rotation in flight (nil: none).
func (ps *policyState) add(p PolicyInfo, rot *state.Rotation) {
	if rot == nil {
		ps.records[PhaseNone]++
		return
	}
	// A phase this version does not know still counts, under its own
	// name: the label set stays bounded by the state format.
	ph := string(rot.Phase)
	ps.records[ph]++
	if t := PhaseSince(rot); !t.IsZero() {
		if o, ok := ps.oldest[ph]; !ok || t.Before(o) {
			ps.oldest[ph] = t
		}
	}
	if rot.Phase != state.PhaseDelivered {
		return
	}
	for _, id := range rot.OldKeyIDs {
		if id != rot.NewKeyID {
			ps.pending++
		}
	}
	// Outside the windows a deletion waits for the next opening: that is
	// when it is due.
	due := rot.DeleteAt(p.GracePeriod)
	if next := p.Windows.NextOpen(due); !due.IsZero() && !next.IsZero() {
		due = next
	}
	if !due.IsZero() && (ps.deletionDue.IsZero() || due.Before(ps.deletionDue)) {
		ps.deletionDue = due
	}
}

// unixSeconds is t in Unix seconds. Not from UnixNano, which wraps around
// past 2262: a deletion due after a grace period of centuries (validate
// takes up to about 292 years) would show as overdue since the 1690s.
func unixSeconds(t time.Time) float64 { return float64(t.Unix()) + float64(t.Nanosecond())/1e9 }
