package deploy

import (
	"os"
	"path/filepath"
	"testing"
)

// TestAudit4NoLeaderNotAtFreshStart: issue 15 asks for an alert that
// fires "when no replica has led for 5 minutes". RotatordNoLeader has no
// `for:` and takes max_over_time over whatever samples exist, so it fires
// at the first evaluation after a fresh install (or any start where the
// Lease is taken anew: the new leader waits a whole lease_duration with
// rotatord_leader 0 before acting), 15 s after the replicas came up.
func TestAudit4NoLeaderNotAtFreshStart(t *testing.T) {
	bin := promtool(t)
	abs, err := filepath.Abs(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	test := `rule_files:
  - ` + abs + `
evaluation_interval: 15s
tests:
  - name: fresh start, the first leader acts after 30 s
    interval: 15s
    input_series:
      - series: 'rotatord_leader{job="rotatord", instance="a:9108"}'
        values: '0 0 1 1 1 1 1 1 1 1'
      - series: 'rotatord_leader{job="rotatord", instance="b:9108"}'
        values: '0 0 0 0 0 0 0 0 0 0'
    alert_rule_test:
      - eval_time: 15s
        alertname: RotatordNoLeader
        exp_alerts: []
`
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "t.yaml"), []byte(test), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := run(t, dir, bin, "test", "rules", "t.yaml"); err != nil {
		t.Errorf("RotatordNoLeader fired 15 s after a fresh start, not after 5 minutes without a leader: %v\n%s", err, out)
	}
}

// TestAudit4KeyTooOldNotFromAStandby: a standby exports the key creation
// times it read from the journal at its start and never again
// (TestAudit4StandbyMetricsFollowTheJournal in test/integration), and
// RotatordKeyTooOld is per instance with no regard for rotatord_leader:
// here the leader (a) rotated the key at 1h, the standby (b) still says
// it was created at 0, and the critical alert fires for b.
func TestAudit4KeyTooOldNotFromAStandby(t *testing.T) {
	bin := promtool(t)
	abs, err := filepath.Abs(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	test := `rule_files:
  - ` + abs + `
evaluation_interval: 1m
tests:
  - name: a standby's stale key age
    interval: 1m
    input_series:
      - series: 'rotatord_leader{job="rotatord", instance="a:9108"}'
        values: '1x200'
      - series: 'rotatord_leader{job="rotatord", instance="b:9108"}'
        values: '0x200'
      - series: 'rotatord_policy_max_age_seconds{job="rotatord", instance="a:9108", account="default", policy="ci"}'
        values: '3600x200'
      - series: 'rotatord_policy_max_age_seconds{job="rotatord", instance="b:9108", account="default", policy="ci"}'
        values: '3600x200'
      - series: 'rotatord_policy_jitter_seconds{job="rotatord", instance="a:9108", account="default", policy="ci"}'
        values: '0x200'
      - series: 'rotatord_policy_jitter_seconds{job="rotatord", instance="b:9108", account="default", policy="ci"}'
        values: '0x200'
      - series: 'rotatord_policy_window_closed_max_seconds{job="rotatord", instance="a:9108", account="default", policy="ci"}'
        values: '0x200'
      - series: 'rotatord_policy_window_closed_max_seconds{job="rotatord", instance="b:9108", account="default", policy="ci"}'
        values: '0x200'
      # The leader rotates every hour.
      - series: 'rotatord_key_created_timestamp_seconds{job="rotatord", instance="a:9108", account="default", policy="ci", name="ci-1"}'
        values: '0x59 3600x59 7200x59 10800x20'
      # The standby read the journal at 0.
      - series: 'rotatord_key_created_timestamp_seconds{job="rotatord", instance="b:9108", account="default", policy="ci", name="ci-1"}'
        values: '0x200'
    alert_rule_test:
      - eval_time: 170m
        alertname: RotatordKeyTooOld
        exp_alerts: []
`
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "t.yaml"), []byte(test), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := run(t, dir, bin, "test", "rules", "t.yaml"); err != nil {
		t.Errorf("RotatordKeyTooOld fires from a standby's stale series while the leader rotates on time: %v\n%s", err, out)
	}
}
