package deploy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// promtoolTest runs promtool test rules on tests (the tests: list of a
// rule test file) against the rules of alerts.yaml, at an evaluation
// interval of every. The rules lose their annotations, which promtool
// would otherwise want in every expected alert (alerts_test.yaml checks
// them).
func promtoolTest(t *testing.T, every, tests string) {
	t.Helper()
	bin := promtool(t)
	var rules map[string]any
	decodeYAML(t, alertsFile, &rules)
	for _, g := range rules["groups"].([]any) {
		for _, r := range g.(map[string]any)["rules"].([]any) {
			delete(r.(map[string]any), "annotations")
		}
	}
	stripped, err := yaml.Marshal(rules)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	doc := "rule_files:\n  - rules.yaml\nevaluation_interval: " + every + "\ntests:\n" + tests
	for name, data := range map[string][]byte{"rules.yaml": stripped, "t.yaml": []byte(doc)} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := run(t, dir, bin, "test", "rules", "t.yaml"); err != nil {
		t.Errorf("promtool test rules: %v\n%s", err, out)
	}
}

// TestNoLeaderNotAtFreshStart: issue 15 asks for an alert that fires
// "when no replica has led for 5 minutes". At a fresh install (or when
// the Lease is taken anew: the new leader waits a whole lease_duration
// with rotatord_leader 0 before acting) every replica is a standby for a
// while; a 5-minute range over the few samples since the start fired at
// the first evaluation, 15 s after the replicas came up. With no leader
// from the start it fires after 5 minutes.
func TestNoLeaderNotAtFreshStart(t *testing.T) {
	promtoolTest(t, "15s", `  - name: fresh start, the first leader acts after 30 s
    interval: 15s
    input_series:
      - series: 'rotatord_leader{job="rotatord", instance="a:9108"}'
        values: '0 0 1x40'
      - series: 'rotatord_leader{job="rotatord", instance="b:9108"}'
        values: '0x42'
    alert_rule_test:
      - eval_time: 15s
        alertname: RotatordNoLeader
        exp_alerts: []
      - eval_time: 10m
        alertname: RotatordNoLeader
        exp_alerts: []
  - name: fresh start, no replica ever leads
    interval: 15s
    input_series:
      - series: 'rotatord_leader{job="rotatord", instance="a:9108"}'
        values: '0x42'
      - series: 'rotatord_leader{job="rotatord", instance="b:9108"}'
        values: '0x42'
    alert_rule_test:
      - eval_time: 4m45s
        alertname: RotatordNoLeader
        exp_alerts: []
      - eval_time: 5m15s
        alertname: RotatordNoLeader
        exp_alerts:
          - exp_labels:
              severity: warning
              job: rotatord
`)
}

// keyTooOldSeries are the policy series of RotatordKeyTooOld (max_age 1h,
// no jitter, no windows) on each instance, for 200 minutes.
func keyTooOldSeries(instances ...string) string {
	var b strings.Builder
	for _, in := range instances {
		for _, s := range []struct{ name, values string }{
			{"rotatord_policy_max_age_seconds", "3600x200"},
			{"rotatord_policy_jitter_seconds", "0x200"},
			{"rotatord_policy_window_closed_max_seconds", "0x200"},
		} {
			b.WriteString("      - series: '" + s.name + `{job="rotatord", instance="` + in + `", account="default", policy="ci"}'` + "\n")
			b.WriteString("        values: '" + s.values + "'\n")
		}
	}
	return b.String()
}

// TestKeyTooOldNotFromAStandby: the alerts on the journal leave out a
// standby's series while a replica of the job leads. A standby's copy of
// the journal may be older than the leader's (up to 30 s; before the
// standbys read it again, as old as the standby), and a critical
// RotatordKeyTooOld must not fire from it while the leader rotates on
// time. The same alert still fires from a single replica (rotatord_leader
// 1, or no such series at all) and, with no leader, from every replica.
func TestKeyTooOldNotFromAStandby(t *testing.T) {
	fires := func(instance string) string {
		return `          - exp_labels:
              severity: critical
              job: rotatord
              instance: ` + instance + `
              account: default
              policy: ci
              name: ci-1
`
	}
	promtoolTest(t, "1m", `  - name: a standby's stale key age while the leader rotates
    interval: 1m
    input_series:
      - series: 'rotatord_leader{job="rotatord", instance="a:9108"}'
        values: '1x200'
      - series: 'rotatord_leader{job="rotatord", instance="b:9108"}'
        values: '0x200'
`+keyTooOldSeries("a:9108", "b:9108")+`      # The leader rotates every hour.
      - series: 'rotatord_key_created_timestamp_seconds{job="rotatord", instance="a:9108", account="default", policy="ci", name="ci-1"}'
        values: '0x59 3600x59 7200x59 10800x20'
      # The standby's copy says the key was created at 0.
      - series: 'rotatord_key_created_timestamp_seconds{job="rotatord", instance="b:9108", account="default", policy="ci", name="ci-1"}'
        values: '0x200'
    alert_rule_test:
      - eval_time: 170m
        alertname: RotatordKeyTooOld
        exp_alerts: []
  - name: no replica leads, the key is too old on every one
    interval: 1m
    input_series:
      - series: 'rotatord_leader{job="rotatord", instance="a:9108"}'
        values: '0x200'
      - series: 'rotatord_leader{job="rotatord", instance="b:9108"}'
        values: '0x200'
`+keyTooOldSeries("a:9108", "b:9108")+`      - series: 'rotatord_key_created_timestamp_seconds{job="rotatord", instance="a:9108", account="default", policy="ci", name="ci-1"}'
        values: '0x200'
      - series: 'rotatord_key_created_timestamp_seconds{job="rotatord", instance="b:9108", account="default", policy="ci", name="ci-1"}'
        values: '0x200'
    alert_rule_test:
      - eval_time: 100m
        alertname: RotatordKeyTooOld
        exp_alerts:
`+fires("a:9108")+fires("b:9108")+`  - name: the leader's key is too old, the standby's alert is left out
    interval: 1m
    input_series:
      - series: 'rotatord_leader{job="rotatord", instance="a:9108"}'
        values: '1x200'
      - series: 'rotatord_leader{job="rotatord", instance="b:9108"}'
        values: '0x200'
`+keyTooOldSeries("a:9108", "b:9108")+`      - series: 'rotatord_key_created_timestamp_seconds{job="rotatord", instance="a:9108", account="default", policy="ci", name="ci-1"}'
        values: '0x200'
      - series: 'rotatord_key_created_timestamp_seconds{job="rotatord", instance="b:9108", account="default", policy="ci", name="ci-1"}'
        values: '0x200'
    alert_rule_test:
      - eval_time: 100m
        alertname: RotatordKeyTooOld
        exp_alerts:
`+fires("a:9108")+`  - name: a single replica without leader election (rotatord_leader 1)
    interval: 1m
    input_series:
      - series: 'rotatord_leader{job="rotatord", instance="a:9108"}'
        values: '1x200'
`+keyTooOldSeries("a:9108")+`      - series: 'rotatord_key_created_timestamp_seconds{job="rotatord", instance="a:9108", account="default", policy="ci", name="ci-1"}'
        values: '0x200'
    alert_rule_test:
      - eval_time: 100m
        alertname: RotatordKeyTooOld
        exp_alerts:
`+fires("a:9108")+`  - name: a single replica that exports no rotatord_leader
    interval: 1m
    input_series:
`+keyTooOldSeries("a:9108")+`      - series: 'rotatord_key_created_timestamp_seconds{job="rotatord", instance="a:9108", account="default", policy="ci", name="ci-1"}'
        values: '0x200'
    alert_rule_test:
      - eval_time: 100m
        alertname: RotatordKeyTooOld
        exp_alerts:
`+fires("a:9108"))
}

// TestStuckAndOverdueNotFromAStandby: RotatordRotationStuck and
// RotatordDeletionOverdue leave out a standby's copy of the journal too
// while a replica leads, and still fire from the leader.
func TestStuckAndOverdueNotFromAStandby(t *testing.T) {
	promtoolTest(t, "1m", `  - name: a rotation in flight and a deletion due on both replicas' copies
    interval: 1m
    input_series:
      - series: 'rotatord_leader{job="rotatord", instance="a:9108"}'
        values: '1x200'
      - series: 'rotatord_leader{job="rotatord", instance="b:9108"}'
        values: '0x200'
      - series: 'rotatord_state_oldest_phase_timestamp_seconds{job="rotatord", instance="a:9108", account="default", policy="ci", phase="created"}'
        values: '0x200'
      - series: 'rotatord_state_oldest_phase_timestamp_seconds{job="rotatord", instance="b:9108", account="default", policy="ci", phase="created"}'
        values: '0x200'
      - series: 'rotatord_state_oldest_deletion_due_timestamp_seconds{job="rotatord", instance="a:9108", account="default", policy="ci"}'
        values: '0x200'
      - series: 'rotatord_state_oldest_deletion_due_timestamp_seconds{job="rotatord", instance="b:9108", account="default", policy="ci"}'
        values: '0x200'
    alert_rule_test:
      - eval_time: 100m
        alertname: RotatordRotationStuck
        exp_alerts:
          - exp_labels:
              severity: warning
              job: rotatord
              instance: a:9108
              account: default
              policy: ci
              phase: created
      - eval_time: 100m
        alertname: RotatordDeletionOverdue
        exp_alerts:
          - exp_labels:
              severity: warning
              job: rotatord
              instance: a:9108
              account: default
              policy: ci
`)
}

// TestHookFailingNotFromAStandby: RotatordHookFailing leaves out the
// series a standby kept from when it led while another replica leads,
// and only those: the leader's own failing hook still fires beside it,
// and with no leader the standby's series fires (the latest run known).
// alerts_test.yaml has only the standby's series, which a rule leaving
// out every replica of the job, or every standby, passes as well.
func TestHookFailingNotFromAStandby(t *testing.T) {
	series := func(instance, name string) string {
		return `      - series: 'rotatord_hook_failing{job="rotatord", instance="` + instance + `", account="default", policy="ci", name="` + name + `", hook="exec#0", event="before_delete"}'
        values: '1x40'
`
	}
	leader := func(a, b string) string {
		return `      - series: 'rotatord_leader{job="rotatord", instance="a:9108"}'
        values: '` + a + `x40'
      - series: 'rotatord_leader{job="rotatord", instance="b:9108"}'
        values: '` + b + `x40'
`
	}
	fires := func(instance, name string) string {
		return `          - exp_labels:
              severity: warning
              job: rotatord
              instance: ` + instance + `
              account: default
              policy: ci
              name: ` + name + `
              hook: exec#0
              event: before_delete
`
	}
	promtoolTest(t, "1m", `  - name: the leader's failing hook fires, the standby's old series is left out
    interval: 1m
    input_series:
`+leader("1", "0")+series("a:9108", "ci-deploy")+series("b:9108", "ci-runner")+`    alert_rule_test:
      - eval_time: 30m
        alertname: RotatordHookFailing
        exp_alerts:
`+fires("a:9108", "ci-deploy")+`  - name: no replica leads, the standby's series fires
    interval: 1m
    input_series:
`+leader("0", "0")+series("b:9108", "ci-runner")+`    alert_rule_test:
      - eval_time: 30m
        alertname: RotatordHookFailing
        exp_alerts:
`+fires("b:9108", "ci-runner"))
}
