package integration

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// TestOverlappingPassesLeakNoKey: the pass at start runs outside cron, so
// a cron tick can list the keys while it is still rotating a name (here a
// slow create) and then wait for that name. Acting on that stale listing
// must not start a second rotation that leaves the first one's key alive
// with no sink holding it.
func TestOverlappingPassesLeakNoKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.writePolicy(`  - name: ci
    match: {name: ci-runner}
    schedule: "@every 1s"
    max_age: 1h
    grace_period: 0s
    adopt: rotate
    sinks:
      - {type: file, path: "$OUT/{{.Name}}.json"}
`)
	old := e.sim.only("ci-runner")
	e.sim.setFaults(`{"create-api-key": {"latency": "1500ms"}}`)
	d := e.startDaemon()
	d.waitLog(20*time.Second, "old key deleted", "key_id", old.Key)
	e.sim.clearFaults()
	// Give a pass that listed the keys during the rotation time to act.
	time.Sleep(3 * time.Second)
	path := filepath.Join(e.out, "ci-runner.json")
	eventually(t, 10*time.Second, func() (bool, string) {
		live := e.sim.live("ci-runner")
		held, _ := readSink(t, path, "json")
		return len(live) == 1 && live[0].Key == held.Key,
			fmt.Sprintf("live keys %v, the sink holds %s; rotatord logged:\n%s", ids(live), held.Key, summary(d.logs()))
	})
	d.stop()
	e.checkSink(path, "json", "ci-runner", 0o600)
	if n := countLogs(d.logs(), "rotation started", "name", "ci-runner"); n != 1 {
		t.Errorf("%d rotations started, want 1", n)
	}
}
