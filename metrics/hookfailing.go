package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// hookFailingDesc is the one family besides the key ages with a series per
// key name: a series only while a hook's latest run for that name failed,
// so that it stays small at 10,000 names (no series at 0).
var hookFailingDesc = prometheus.NewDesc(namespace+"_hook_failing",
	"1 while the latest run of a policy's hook for a key name failed; absent once it succeeds, the name leaves the policy or a reload removes the hook.",
	[]string{"account", "policy", "name", "hook", "event"}, nil)

type hookFailingKey struct{ account, policy, name, hook, event string }

// hookFailing holds the hooks whose latest run for a name failed. A
// hook's failure is per name (a consumer check broken for one consumer),
// which the per-policy counter hides behind the other names' successes.
type hookFailing struct {
	mu  sync.Mutex
	set map[hookFailingKey]struct{}
	// gen counts the series added: the key series' refresh, which drops
	// those of names gone, walks the records again when it moved, though
	// the records did not (an on_failure hook, run in the background,
	// that failed after its name left).
	gen uint64
}

// ran records a hook's run for a name.
func (f *hookFailing) ran(k hookFailingKey, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ok {
		delete(f.set, k)
		return
	}
	if _, had := f.set[k]; had {
		return
	}
	if f.set == nil {
		f.set = map[hookFailingKey]struct{}{}
	}
	f.set[k] = struct{}{}
	f.gen++
}

func (f *hookFailing) generation() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.gen
}

// names returns the names that have a series, nil when none has.
func (f *hookFailing) names() map[keyCreatedKey]bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.set) == 0 {
		return nil
	}
	out := map[keyCreatedKey]bool{}
	for k := range f.set {
		out[keyCreatedKey{k.account, k.policy, k.name}] = true
	}
	return out
}

// dropNames removes the series of names gone, found by a walk of the
// policies read after the generation gen: unless a series was added since
// gen. One added since may be of a policy a reload added (or removed and
// restored) after that read, which the walk did not see: its name is not
// gone, and the series must stay (no run would bring it back before the
// hook runs again). The refresh that read gen walks again at its next
// call, as the generation moved, and drops the names gone then.
func (f *hookFailing) dropNames(gone map[keyCreatedKey]bool, gen uint64) {
	if len(gone) == 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.gen != gen {
		return
	}
	for k := range f.set {
		if gone[keyCreatedKey{k.account, k.policy, k.name}] {
			delete(f.set, k)
		}
	}
}

// drop removes the series keep refuses (a reload removed their hook or
// their policy).
func (f *hookFailing) drop(keep func(k hookFailingKey) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k := range f.set {
		if !keep(k) {
			delete(f.set, k)
		}
	}
}

// ForgetHookFailures drops every rotatord_hook_failing series: a replica
// that leads again calls it, as the series are of the runs it made when it
// led before, and the leader in between may have run those hooks since
// and seen them pass (deleting the old keys): nothing would run them
// here again for the name before its next rotation, and the alert, which
// leaves a standby's series out only while another replica leads, would
// fire for them. A hook still failing fails again at its next run.
func (m *Metrics) ForgetHookFailures() {
	m.failing.drop(func(hookFailingKey) bool { return false })
}

// hookFailingCollector exposes hookFailing through the registry, whose
// text encoder escapes the name as the key age lines are escaped.
type hookFailingCollector struct{ m *Metrics }

func (c hookFailingCollector) Describe(ch chan<- *prometheus.Desc) { ch <- hookFailingDesc }

func (c hookFailingCollector) Collect(ch chan<- prometheus.Metric) {
	if c.m.keys != nil {
		// The names gone since the last scrape go first, as their key
		// ages do (the refresh is shared, and cached while nothing moved).
		c.m.keys.refresh()
	}
	f := &c.m.failing
	f.mu.Lock()
	keys := make([]hookFailingKey, 0, len(f.set))
	for k := range f.set {
		keys = append(keys, k)
	}
	f.mu.Unlock()
	for _, k := range keys {
		// Only names CheckName accepts (ASCII) run hooks; a label the
		// client refused is left out rather than failing the scrape.
		if s, err := prometheus.NewConstMetric(hookFailingDesc, prometheus.GaugeValue, 1, k.account, k.policy, k.name, k.hook, k.event); err == nil {
			ch <- s
		}
	}
}
