package deploy

import (
	"bytes"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/metrics"
	"github.com/rotatord/rotatord/state"
)

var update = flag.Bool("update", false, "rewrite the generated prometheusrule.yaml files from "+alertsFile)

const (
	alertsFile     = "prometheus/alerts.yaml"
	alertsTestFile = "prometheus/alerts_test.yaml"
)

// prometheusRules are the generated PrometheusRules, one in each
// Kubernetes variant, with the namespace each names itself (none: the
// kustomization sets it).
var prometheusRules = []struct{ file, namespace string }{
	{k8sDir + "/prometheusrule.yaml", ""},
	{k8sHADir + "/prometheusrule.yaml", "rotatord"},
}

type alertRules struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func loadAlerts(t *testing.T) alertRules {
	t.Helper()
	var r alertRules
	decodeYAML(t, alertsFile, &r)
	return r
}

// TestAlertRules checks what promtool does not: the alerts the operations
// guide promises exist, and each says how bad it is and what to do.
func TestAlertRules(t *testing.T) {
	r := loadAlerts(t)
	seen := map[string]bool{}
	for _, g := range r.Groups {
		for _, rule := range g.Rules {
			name := rule.Alert
			if name == "" {
				t.Errorf("group %s: a rule that is not an alert (record %q)", g.Name, rule.Record)
				continue
			}
			if seen[name] {
				t.Errorf("alert %s defined twice", name)
			}
			seen[name] = true
			if !strings.HasPrefix(name, "Rotatord") {
				t.Errorf("alert %s: want the Rotatord prefix", name)
			}
			if s := rule.Labels["severity"]; s != "warning" && s != "critical" {
				t.Errorf("alert %s: severity %q, want warning or critical", name, s)
			}
			for _, a := range []string{"summary", "description", "runbook"} {
				if strings.TrimSpace(rule.Annotations[a]) == "" {
					t.Errorf("alert %s: no %s annotation", name, a)
				}
			}
			if rule.For != "" {
				if _, err := time.ParseDuration(rule.For); err != nil {
					t.Errorf("alert %s: for %q: %v", name, rule.For, err)
				}
			}
		}
	}
	for _, want := range []string{
		"RotatordDown", "RotatordNotReady", "RotatordRotationsFailing", "RotatordKeyTooOld",
		"RotatordSinkWritesFailing", "RotatordOrphansCleanedRepeatedly", "RotatordConfigReloadFailed",
		"RotatordAPIErrors", "RotatordAPIAccessDenied", "RotatordRotationStuck", "RotatordDeletionOverdue",
	} {
		if !seen[want] {
			t.Errorf("no alert %s", want)
		}
	}
}

// TestAlertTestsCoverEveryAlert checks that alerts_test.yaml has, for every
// alert, a case where it fires and one where it must stay silent.
func TestAlertTestsCoverEveryAlert(t *testing.T) {
	var tests struct {
		RuleFiles []string `yaml:"rule_files"`
		Tests     []struct {
			Name  string `yaml:"name"`
			Cases []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	decodeYAML(t, alertsTestFile, &tests)
	if !slices.Equal(tests.RuleFiles, []string{filepath.Base(alertsFile)}) {
		t.Errorf("rule_files %v, want [%s]", tests.RuleFiles, filepath.Base(alertsFile))
	}
	fires, silent := map[string]int{}, map[string]int{}
	for _, tt := range tests.Tests {
		for _, c := range tt.Cases {
			if len(c.ExpAlerts) > 0 {
				fires[c.Alertname]++
			} else {
				silent[c.Alertname]++
			}
		}
	}
	for _, g := range loadAlerts(t).Groups {
		for _, rule := range g.Rules {
			if fires[rule.Alert] == 0 {
				t.Errorf("%s: no case where %s fires", alertsTestFile, rule.Alert)
			}
			if silent[rule.Alert] == 0 {
				t.Errorf("%s: no case where %s stays silent", alertsTestFile, rule.Alert)
			}
		}
	}
}

// TestPromtool runs promtool check rules and promtool test rules.
func TestPromtool(t *testing.T) {
	bin := promtool(t)
	dir := filepath.Dir(alertsFile)
	for _, args := range [][]string{
		{"check", "rules", "--lint=all", filepath.Base(alertsFile)},
		{"test", "rules", filepath.Base(alertsTestFile)},
	} {
		out, err := run(t, dir, bin, args...)
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
			continue
		}
		t.Logf("promtool %s:\n%s", strings.Join(args, " "), out)
	}
}

// TestPrometheusRule checks that the PrometheusRule of each variant of the
// Kubernetes manifests carries exactly the rules of alerts.yaml. With
// -update it rewrites them.
func TestPrometheusRule(t *testing.T) {
	var alerts map[string]any
	decodeYAML(t, alertsFile, &alerts)
	for _, pr := range prometheusRules {
		want, err := generatePrometheusRule(readFile(t, alertsFile), pr.namespace)
		if err != nil {
			t.Fatal(err)
		}
		if *update {
			if err := os.WriteFile(pr.file, want, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if got := readFile(t, pr.file); !bytes.Equal(got, want) {
			t.Errorf("%s is not what %s generates: run go test ./deploy -run TestPrometheusRule -update", pr.file, alertsFile)
		}
		var rule struct {
			object `yaml:",inline"`
			Spec   map[string]any `yaml:"spec"`
		}
		decodeYAML(t, pr.file, &rule)
		if rule.APIVersion != "monitoring.coreos.com/v1" || rule.Kind != "PrometheusRule" {
			t.Errorf("%s is %s %s, want monitoring.coreos.com/v1 PrometheusRule", pr.file, rule.APIVersion, rule.Kind)
		}
		if rule.Metadata.Namespace != pr.namespace {
			t.Errorf("%s: namespace %q, want %q", pr.file, rule.Metadata.Namespace, pr.namespace)
		}
		if !reflect.DeepEqual(rule.Spec, alerts) {
			t.Errorf("the rules of %s differ from %s: run go test ./deploy -run TestPrometheusRule -update", pr.file, alertsFile)
		}
	}
}

// generatePrometheusRule wraps the groups of alerts.yaml, as written, in a
// PrometheusRule, in namespace if it is not empty.
func generatePrometheusRule(alerts []byte, namespace string) ([]byte, error) {
	i := bytes.Index(alerts, []byte("\ngroups:\n"))
	if i < 0 {
		return nil, fmt.Errorf("%s: no top-level groups:", alertsFile)
	}
	var b bytes.Buffer
	b.WriteString(`# GENERATED from deploy/prometheus/alerts.yaml: do not edit. Regenerate with
#   go test ./deploy -run TestPrometheusRule -update
# The rules of alerts.yaml for the Prometheus Operator. If its ruleSelector
# asks for a label (kube-prometheus-stack: release: <release name>), add it
# with a kustomize patch rather than here.
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: rotatord
`)
	if namespace != "" {
		fmt.Fprintf(&b, "  namespace: %s\n", namespace)
	}
	b.WriteString(`  labels:
    app.kubernetes.io/name: rotatord
spec:
`)
	for _, line := range strings.SplitAfter(string(alerts[i+1:]), "\n") {
		if strings.TrimSpace(line) != "" {
			b.WriteString("  ")
		}
		b.WriteString(line)
	}
	return b.Bytes(), nil
}

// exported is what rotatord exports: metric names (histograms with their
// _bucket, _sum and _count series) and the label names of each.
type exported map[string]map[string]bool

// exportedMetrics builds rotatord's real metrics on a fresh registry, with
// a policy, a key in the state store and one event of each kind so that
// every family has a series, and gathers them.
func exportedMetrics(t *testing.T) exported {
	t.Helper()
	store, err := state.Open(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	now := time.Now()
	for _, r := range []state.Record{
		{Policy: "ci", Name: "ci-runner", CurrentKeyID: "k1", CurrentSince: now},
		{Policy: "ci", Name: "ci-deploy", CurrentKeyID: "k2", CurrentSince: now,
			Rotation: &state.Rotation{Phase: state.PhaseIntent, StartedAt: now}},
		{Policy: "ci", Name: "ci-build", CurrentKeyID: "k4", CurrentSince: now,
			Rotation: &state.Rotation{Phase: state.PhaseDelivered, StartedAt: now, NewKeyID: "k4", OldKeyIDs: []string{"k3"}, DeliveredAt: now, DeleteAfter: now.Add(time.Hour)}},
	} {
		if err := store.Put(r); err != nil {
			t.Fatal(err)
		}
	}
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, store)
	m.SetReady(func() bool { return true })
	m.SetAPILimits(func() []metrics.APILimits { return []metrics.APILimits{{Account: "default", Rate: 1000, InFlight: 4}} })
	m.SetPolicies([]metrics.PolicyInfo{{Name: "ci", MaxAge: time.Hour, Sinks: []string{"file#0"}, SinkCheck: true,
		Hooks: []metrics.HookInfo{{Label: "exec#0", Event: "before_delete"}}}})
	m.RotationDone("ci", true, time.Second)
	m.SinkWrite("ci", "file#0", false)
	m.OrphanDeleted("ci")
	m.PassDone("ci", true)
	m.HookRun("ci", "ci-runner", "exec#0", "before_delete", false, time.Second)
	m.ObserveAPI("default", apiclient.OpListKeys, "200", time.Millisecond)
	m.ConfigLoaded(true)

	families, err := m.Gatherer(reg).Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := exported{}
	for _, f := range families {
		labels := map[string]bool{}
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				labels[l.GetName()] = true
			}
		}
		out[f.GetName()] = labels
		if f.GetType() == dto.MetricType_HISTOGRAM {
			withLE := maps.Clone(labels)
			withLE["le"] = true
			out[f.GetName()+"_bucket"] = withLE
			out[f.GetName()+"_sum"] = labels
			out[f.GetName()+"_count"] = labels
		}
	}
	if len(out) < 15 {
		t.Fatalf("gathered only %v: did a metric lose its series?", slices.Sorted(maps.Keys(out)))
	}
	return out
}

// Series that Prometheus makes, not rotatord, and the labels every scraped
// series has.
var (
	prometheusSeries = exported{"up": {}}
	targetLabels     = []string{"job", "instance"}
)

// checkQuery checks that every metric an expression selects is one that
// rotatord (or Prometheus) exports, with labels it has.
func checkQuery(t *testing.T, exp exported, where, expr string) []selector {
	t.Helper()
	sels, err := metricSelectors(expr)
	if err != nil {
		t.Errorf("%s: %v in %q", where, err, expr)
		return nil
	}
	if len(sels) == 0 {
		t.Errorf("%s: no metric in %q", where, expr)
	}
	for _, s := range sels {
		labels, ok := exp[s.name]
		if !ok {
			labels, ok = prometheusSeries[s.name]
		}
		if !ok {
			t.Errorf("%s: %s is not a metric rotatord exports (in %q)", where, s.name, expr)
			continue
		}
		for _, m := range s.matchers {
			if !labels[m.label] && !slices.Contains(targetLabels, m.label) {
				t.Errorf("%s: %s has no label %q (in %q)", where, s.name, m.label, expr)
			}
			if m.label == "result" && m.op == "=" && m.value != metrics.ResultSuccess && m.value != metrics.ResultFailure {
				t.Errorf("%s: %s{result=%q}: result is %s or %s", where, s.name, m.value, metrics.ResultSuccess, metrics.ResultFailure)
			}
		}
	}
	return sels
}

// TestAlertsOnReadinessAndStuckRotations: readiness comes from the
// rotatord_ready gauge (no longer inferred from passes_total), and
// rotations that stay in one phase have alerts.
func TestAlertsOnReadinessAndStuckRotations(t *testing.T) {
	exprs := map[string]string{}
	for _, g := range loadAlerts(t).Groups {
		for _, r := range g.Rules {
			exprs[r.Alert] = r.Expr
		}
	}
	uses := func(alert, metric string) bool {
		sels, err := metricSelectors(exprs[alert])
		if err != nil {
			t.Fatalf("%s: %v", alert, err)
		}
		for _, s := range sels {
			if s.name == metric {
				return true
			}
		}
		return false
	}
	for _, tt := range []struct {
		alert, metric string
		want          bool
	}{
		{"RotatordNotReady", "rotatord_ready", true},
		{"RotatordNotReady", "rotatord_passes_total", false},
		{"RotatordRotationStuck", "rotatord_state_oldest_phase_timestamp_seconds", true},
		{"RotatordDeletionOverdue", "rotatord_state_oldest_deletion_due_timestamp_seconds", true},
	} {
		if got := uses(tt.alert, tt.metric); got != tt.want {
			t.Errorf("%s uses %s: %v, want %v (expr %q)", tt.alert, tt.metric, got, tt.want, exprs[tt.alert])
		}
	}
	// The stuck alert must leave the delivered phase (a grace period) to
	// RotatordDeletionOverdue.
	sels, _ := metricSelectors(exprs["RotatordRotationStuck"])
	for _, s := range sels {
		for _, m := range s.matchers {
			if m.label == "phase" && (m.op != "=~" || m.value != "intent|created") {
				t.Errorf("RotatordRotationStuck selects phase%s%q, want =~\"intent|created\"", m.op, m.value)
			}
		}
	}
}

func TestAlertsUseExportedMetrics(t *testing.T) {
	exp := exportedMetrics(t)
	for _, g := range loadAlerts(t).Groups {
		for _, r := range g.Rules {
			checkQuery(t, exp, alertsFile+" "+r.Alert, r.Expr)
		}
	}
}

// selector is a metric name in a PromQL expression with the label
// matchers written after it.
type selector struct {
	name     string
	matchers []matcher
}

type matcher struct{ label, op, value string }

var (
	promqlKeywords = map[string]bool{
		"and": true, "or": true, "unless": true, "bool": true, "offset": true, "atan2": true,
		"inf": true, "nan": true, "Inf": true, "NaN": true,
	}
	// Keywords followed by a parenthesised label list.
	promqlGrouping = map[string]bool{
		"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	}
	promqlAggregations = map[string]bool{
		"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
		"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true,
		"limitk": true, "limit_ratio": true,
	}
)

// metricSelectors lists the metric names an expression selects. It is a
// scanner, not a PromQL parser: it knows strings, label matchers, ranges,
// numbers and durations, grouping clauses, function calls, keywords, and
// Grafana's $variables, which covers the expressions of this directory.
// A selector without a metric name ({__name__=...}) is an error.
func metricSelectors(expr string) ([]selector, error) {
	var out []selector
	s := expr
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			_, end, err := scanString(s, i)
			if err != nil {
				return nil, err
			}
			i = end
		case c == '$':
			i++
			if i < len(s) && s[i] == '{' {
				j := strings.IndexByte(s[i:], '}')
				if j < 0 {
					return nil, fmt.Errorf("unclosed ${ at %d", i)
				}
				i += j + 1
			} else {
				i = scanIdent(s, i)
			}
		case c == '[':
			j := strings.IndexByte(s[i:], ']')
			if j < 0 {
				return nil, fmt.Errorf("unclosed [ at %d", i)
			}
			i += j + 1
		case c == '{':
			return nil, fmt.Errorf("a selector without a metric name at %d", i)
		case isDigit(c) || (c == '.' && i+1 < len(s) && isDigit(s[i+1])):
			for i < len(s) && (isIdentChar(s[i]) || s[i] == '.') {
				i++
			}
		case isIdentStart(c):
			end := scanIdent(s, i)
			word := s[i:end]
			i = end
			next := skipSpace(s, i)
			switch {
			case promqlGrouping[word]:
				if next < len(s) && s[next] == '(' {
					j := strings.IndexByte(s[next:], ')')
					if j < 0 {
						return nil, fmt.Errorf("unclosed %s ( at %d", word, next)
					}
					i = next + j + 1
				}
			case promqlKeywords[word]:
			case next < len(s) && s[next] == '(':
				// a function or an aggregation
			case promqlAggregations[word] && (strings.HasPrefix(s[next:], "by") || strings.HasPrefix(s[next:], "without")):
			default:
				sel := selector{name: word}
				if next < len(s) && s[next] == '{' {
					ms, end, err := scanMatchers(s, next)
					if err != nil {
						return nil, fmt.Errorf("%s: %w", word, err)
					}
					sel.matchers, i = ms, end
				}
				out = append(out, sel)
			}
		default:
			i++
		}
	}
	return out, nil
}

// scanMatchers reads {label op "value", ...} starting at the brace.
func scanMatchers(s string, i int) ([]matcher, int, error) {
	var out []matcher
	i++ // {
	for {
		i = skipSpace(s, i)
		if i < len(s) && s[i] == ',' {
			i = skipSpace(s, i+1)
		}
		if i >= len(s) {
			return nil, i, fmt.Errorf("unclosed {")
		}
		if s[i] == '}' {
			return out, i + 1, nil
		}
		end := scanIdent(s, i)
		if end == i {
			return nil, i, fmt.Errorf("want a label name at %d", i)
		}
		m := matcher{label: s[i:end]}
		i = skipSpace(s, end)
		for _, op := range []string{"=~", "!~", "!=", "="} {
			if strings.HasPrefix(s[i:], op) {
				m.op = op
				break
			}
		}
		if m.op == "" {
			return nil, i, fmt.Errorf("want a matcher operator after %s", m.label)
		}
		i = skipSpace(s, i+len(m.op))
		v, end, err := scanString(s, i)
		if err != nil {
			return nil, i, err
		}
		m.value, i = v, end
		out = append(out, m)
	}
}

// scanString reads a PromQL string literal starting at its quote.
func scanString(s string, i int) (string, int, error) {
	if i >= len(s) || !strings.ContainsRune("\"'`", rune(s[i])) {
		return "", i, fmt.Errorf("want a string at %d", i)
	}
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			if q != '`' {
				j++
			}
		case q:
			lit := s[i : j+1]
			if q == '\'' {
				lit = `"` + strings.ReplaceAll(lit[1:len(lit)-1], `"`, `\"`) + `"`
			}
			v, err := strconv.Unquote(lit)
			if err != nil {
				return "", j + 1, fmt.Errorf("string %s: %w", s[i:j+1], err)
			}
			return v, j + 1, nil
		}
	}
	return "", len(s), fmt.Errorf("unclosed string at %d", i)
}

func scanIdent(s string, i int) int {
	for i < len(s) && isIdentChar(s[i]) {
		i++
	}
	return i
}

func skipSpace(s string, i int) int {
	for i < len(s) && strings.ContainsRune(" \t\r\n", rune(s[i])) {
		i++
	}
	return i
}

func isDigit(c byte) bool      { return c >= '0' && c <= '9' }
func isIdentStart(c byte) bool { return c == '_' || c == ':' || (c|0x20 >= 'a' && c|0x20 <= 'z') }
func isIdentChar(c byte) bool  { return isIdentStart(c) || isDigit(c) }

func TestMetricSelectors(t *testing.T) {
	tests := []struct {
		give    string
		want    []string // name{label op value,...}
		wantErr bool
	}{
		{give: `up{job="rotatord"} == 0 or absent(up{job="rotatord"})`, want: []string{`up{job="rotatord"}`, `up{job="rotatord"}`}},
		{give: `sum by (job, instance) (increase(a_total{result="failure"}[1h])) > 0`, want: []string{`a_total{result="failure"}`}},
		{give: "(time() - a) > on (job, policy) group_left () (1.1 * b)", want: []string{"a", "b"}},
		{give: "a / on (job) group_left b offset 5m", want: []string{"a", "b"}},
		{give: `histogram_quantile(0.9, sum by (le) (rate(x_bucket{p=~"$policy", i=~"${instance}"}[$__rate_interval])))`, want: []string{`x_bucket{p=~"$policy",i=~"${instance}"}`}},
		{give: `sum without (code) (rate(a{code=~"5..|error", x!='y'}[5m])) / 1e3`, want: []string{`a{code=~"5..|error",x!="y"}`}},
		{give: `count(a) and bool topk(3, b:rate5m)`, want: []string{"a", "b:rate5m"}},
		{give: `label_replace(a, "dst", "$1", "src", "(.*)")`, want: []string{"a"}},
		{give: `{__name__="a"}`, wantErr: true},
		{give: `a{b="c"`, wantErr: true},
	}
	for _, tt := range tests {
		sels, err := metricSelectors(tt.give)
		if (err != nil) != tt.wantErr {
			t.Errorf("metricSelectors(%q) error %v, want error %v", tt.give, err, tt.wantErr)
			continue
		}
		var got []string
		for _, s := range sels {
			var ms []string
			for _, m := range s.matchers {
				ms = append(ms, m.label+m.op+strconv.Quote(m.value))
			}
			if ms != nil {
				got = append(got, s.name+"{"+strings.Join(ms, ",")+"}")
			} else {
				got = append(got, s.name)
			}
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("metricSelectors(%q) = %q, want %q", tt.give, got, tt.want)
		}
	}
}
