package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestSlowConsumerCheckDoesNotHoldOtherDeletions: the consumer check
// (before_delete) of one name hangs, as a consumer's health check that
// never answers does, up to its timeout (minutes). The old key of another
// name, of another policy, whose grace period ends meanwhile must still be
// deleted when it is due, not once the hung check ends: the deleter must
// not wait for one name's hook before it deletes the others' old keys.
// Nor may a stop wait for the hung check's whole timeout (d.stop gives it
// 45 s; the check is cancelled after the shutdown timeout, 30 s).
func TestSlowConsumerCheckDoesNotHoldOtherDeletions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, seedKey{"app-1", "ci"}, seedKey{"web-1", "ci"})
	hookDir := filepath.Join(e.dir, "hook")
	mkdir(t, hookDir)
	script := hookScript(t, hookDir) // kills a blocked hook at the end
	// Passes once an hour: only the deleter deletes during the test.
	e.writePolicy(fmt.Sprintf(`  - name: apps
    match: {name: "app-*"}
    schedule: "@every 1h"
    max_age: 1h
    grace_period: 2s
    adopt: rotate
    sinks:
      - {type: file, path: "$OUT/{{.Name}}.json"}
    hooks:
      - {event: before_delete, exec: {command: [%s, before], timeout: 10m}}
  - name: webs
    match: {name: "web-*"}
    schedule: "@every 1h"
    max_age: 1h
    grace_period: 8s
    adopt: rotate
    sinks:
      - {type: file, path: "$OUT/web-{{.Name}}.json"}
`, script))
	oldWeb := e.sim.only("web-1")
	writeFile(t, filepath.Join(hookDir, "block"), "", 0o600)

	d := e.startDaemon()
	eventually(t, 30*time.Second, func() (bool, string) {
		_, err := os.Stat(filepath.Join(hookDir, "hook.pid"))
		return err == nil, "app-1's consumer check has not started\n" + summary(d.logs())
	})
	eventually(t, 40*time.Second, func() (bool, string) {
		k, _ := e.sim.key(oldWeb.Key)
		return !k.Alive, fmt.Sprintf("web-1's old key %s is still alive, its grace period long over, while app-1's consumer check hangs\n%s", oldWeb.Key, summary(d.logs()))
	})
	d.stop()
}
