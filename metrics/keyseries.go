package metrics

import (
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/rotatord/rotatord/state"
)

// keyCreatedName is the one family with a series per managed name.
const keyCreatedName = namespace + "_key_created_timestamp_seconds"

const keyCreatedHelp = "When the current key of each managed name was created by rotatord, or first seen (Unix time)."

// keySeries keeps rotatord_key_created_timestamp_seconds, one series per
// managed name, as exposition text rendered once per change of the name's
// key. It sits outside the registry: gathering 10,000 series through it
// (a metric, a dto, a label hash and a sort each) and encoding them again
// cost about 16 ms a scrape, and these series change once per rotation.
// Handler writes the cached lines; Gather builds the family for the other
// formats and for tests.
type keySeries struct {
	store    RecordSource
	policies func() ([]PolicyInfo, uint64)

	mu     sync.Mutex // makes refreshes take turns
	lines  map[keyCreatedKey]*keyLine
	sorted []*keyLine // the registry's order; replaced, never changed in place
	gen    uint64     // counts the replacements of sorted
	stamp  recordsStamp
	pass   uint64

	// failing, when set, is rotatord_hook_failing: a refresh drops the
	// series of the names gone, as it drops their lines. failGen is its
	// generation the last refresh saw.
	failing *hookFailing
	failGen uint64

	blockMu sync.Mutex // makes the compressions take turns
	block   *deflatedBlock
}

type keyCreatedKey struct{ account, policy, name string }

// keyLine is one series. Only seen changes once it is made.
type keyLine struct {
	key   keyCreatedKey
	since time.Time
	value float64
	text  string // the exposition line, with its newline
	seen  uint64 // the last refresh that found it; under keySeries.mu
	// metric is the series for Gather, made at its first call; under
	// keySeries.mu.
	metric *dto.Metric
}

func newKeySeries(store RecordSource, policies func() ([]PolicyInfo, uint64)) *keySeries {
	return &keySeries{store: store, policies: policies, lines: map[keyCreatedKey]*keyLine{}}
}

// refresh brings the series in step with the records and returns them in
// the order the registry would sort them (account, name, policy), and
// the generation of that slice: the same generation, the same lines. The
// slice is shared: callers only read it. A versioned source whose version
// and policies have not moved is not read at all.
func (k *keySeries) refresh() ([]*keyLine, uint64) {
	// The failing series' generation first, before the policies: a
	// reload that adds a policy, then a failed hook run for one of its
	// names, landing after the policies are read, must not have that
	// name taken for one gone (the walk below does not find it). The run
	// added a series, so the generation moved since this read, and the
	// drop below is skipped (dropNames); the next refresh walks again.
	var failGen uint64
	if k.failing != nil {
		failGen = k.failing.generation()
	}
	policies, policyGen := k.policies()
	stamp := stampOf(k.store, policyGen)
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.sorted != nil && k.stamp.holds(stamp) && failGen == k.failGen {
		return k.sorted, k.gen
	}
	k.pass++
	changed, found := false, 0
	// The names with a failing hook: those the walk does not find are gone
	// (a deleted record, a removed policy), and so are their series. Any
	// record, with a current key or not: a hook may fail before a name
	// has one (on_failure).
	var failing map[keyCreatedKey]bool
	if k.failing != nil {
		failing = k.failing.names()
	}
	for _, p := range policies {
		account := p.Account
		// Under the store's lock: a lookup per record, and a new line
		// only for a key that changed.
		k.store.Each(p.Name, func(r *state.Record) {
			key := keyCreatedKey{account, r.Policy, r.Name}
			if failing != nil {
				delete(failing, key)
			}
			if r.CurrentSince.IsZero() {
				return
			}
			l := k.lines[key]
			if l == nil || !l.since.Equal(r.CurrentSince) {
				l = newKeyLine(key, r.CurrentSince)
				k.lines[key] = l
				changed = true
			}
			if l.seen != k.pass {
				l.seen = k.pass
				found++
			}
		})
	}
	if found != len(k.lines) { // names gone: deleted records, removed policies
		for key, l := range k.lines {
			if l.seen != k.pass {
				delete(k.lines, key)
			}
		}
		changed = true
	}
	if changed || k.sorted == nil {
		sorted := make([]*keyLine, 0, len(k.lines))
		for _, l := range k.lines {
			sorted = append(sorted, l)
		}
		slices.SortFunc(sorted, func(a, b *keyLine) int {
			if c := strings.Compare(a.key.account, b.key.account); c != 0 {
				return c
			}
			if c := strings.Compare(a.key.name, b.key.name); c != 0 {
				return c
			}
			return strings.Compare(a.key.policy, b.key.policy)
		})
		k.sorted = sorted
		k.gen++
		if len(sorted) == 0 {
			// No gzip answer asks for a block again until a name comes
			// back: let go of the last one.
			k.blockMu.Lock()
			k.block = nil
			k.blockMu.Unlock()
		}
	}
	if k.failing != nil {
		k.failing.dropNames(failing, failGen)
	}
	k.stamp, k.failGen = stamp, failGen
	return k.sorted, k.gen
}

// deflated returns the family's text (HELP, TYPE and lines, the lines of
// generation gen) compressed, made once per generation: at 10,000 names
// compressing the 1.2 MB again cost most of a gzip scrape.
func (k *keySeries) deflated(lines []*keyLine, gen uint64) (*deflatedBlock, error) {
	k.blockMu.Lock()
	defer k.blockMu.Unlock()
	if k.block != nil && k.block.gen == gen {
		return k.block, nil
	}
	b, err := deflate(gen, func(w io.StringWriter) error {
		if _, err := w.WriteString(keyCreatedTextHeader); err != nil {
			return err
		}
		for _, l := range lines {
			if _, err := w.WriteString(l.text); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	k.block = b
	return b, nil
}

func newKeyLine(key keyCreatedKey, since time.Time) *keyLine {
	v := unixSeconds(since)
	var b strings.Builder
	b.WriteString(keyCreatedName)
	b.WriteString(`{account="`)
	b.WriteString(escapeLabelValue(key.account))
	b.WriteString(`",name="`)
	b.WriteString(escapeLabelValue(key.name))
	b.WriteString(`",policy="`)
	b.WriteString(escapeLabelValue(key.policy))
	b.WriteString(`"} `)
	b.WriteString(formatValue(v))
	b.WriteByte('\n')
	return &keyLine{key: key, since: since, value: v, text: b.String()}
}

// labelEscaper escapes a label value as the text format does.
var labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)

func escapeLabelValue(v string) string { return labelEscaper.Replace(v) }

// formatValue writes a sample value as the text format does.
func formatValue(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, +1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// textHeader is the family's HELP and TYPE lines.
const keyCreatedTextHeader = "# HELP " + keyCreatedName + " " + keyCreatedHelp + "\n# TYPE " + keyCreatedName + " gauge\n"

// Gather implements prometheus.Gatherer: the family as the registry would
// have gathered it, absent while no name has a key.
// Each series is made once, at the first Gather that needs it, and handed
// out again: no caller changes what it gathered (promhttp and the
// registry's checks only read it), and 10,000 new series a scrape cost
// more than the rest of a protobuf scrape.
func (k *keySeries) Gather() ([]*dto.MetricFamily, error) {
	lines, _ := k.refresh()
	if len(lines) == 0 {
		return nil, nil
	}
	name, help, typ := keyCreatedName, keyCreatedHelp, dto.MetricType_GAUGE
	mf := &dto.MetricFamily{Name: &name, Help: &help, Type: &typ, Metric: make([]*dto.Metric, 0, len(lines))}
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, l := range lines {
		if l.metric == nil {
			l.metric = l.newMetric()
		}
		mf.Metric = append(mf.Metric, l.metric)
	}
	return []*dto.MetricFamily{mf}, nil
}

var labelNames = [3]string{"account", "name", "policy"}

func (l *keyLine) newMetric() *dto.Metric {
	value, values := l.value, [3]string{l.key.account, l.key.name, l.key.policy}
	m := &dto.Metric{Gauge: &dto.Gauge{Value: &value}, Label: make([]*dto.LabelPair, 0, len(labelNames))}
	for i := range labelNames {
		m.Label = append(m.Label, &dto.LabelPair{Name: &labelNames[i], Value: &values[i]})
	}
	return m
}
