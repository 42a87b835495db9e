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
