package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReloadDoesNotWaitForAHungAfterDeliveryHook: the after_delivery exec
// hook of app-1 (policy apps) hangs, and a SIGHUP comes. The reload
// applies at once, and the other policy's work goes on meanwhile: the old
// key of app-2 (policy b, no hooks) is deleted when its grace period ends,
// not when app-1's hook ends (up to its timeout, 30 minutes at most).
func TestReloadDoesNotWaitForAHungAfterDeliveryHook(t *testing.T) {
	t.Parallel()
	e := newEnv(t, seedKey{"app-1", "ci"}, seedKey{"app-2", "ci"})
	hookDir := filepath.Join(e.dir, "hook")
	mkdir(t, hookDir)
	script := hookScript(t, hookDir) // kills a blocked hook at the end
	policy := func(grace string) string {
		return fmt.Sprintf(`  - name: apps
    match: {name: "app-1"}
    schedule: "@every 1s"
    max_age: 1h
    grace_period: 1h
    adopt: rotate
    sinks:
      - {type: file, path: "$OUT/{{.Name}}.json"}
    hooks:
      - {event: after_delivery, exec: {command: [%s, after], timeout: 10m}}
  - name: b
    match: {name: "app-2"}
    schedule: "@every 2s"
    max_age: 1h
    grace_period: %s
    adopt: rotate
    sinks:
      - {type: file, path: "$OUT/b-{{.Name}}.json"}
`, script, grace)
	}
	e.writePolicy(policy("8s"))
	old2 := e.sim.only("app-2")
	writeFile(t, filepath.Join(hookDir, "block"), "", 0o600)

	d := e.startDaemon()
	eventually(t, 30*time.Second, func() (bool, string) {
		_, err := os.Stat(filepath.Join(hookDir, "hook.pid"))
		return err == nil, "the after_delivery hook of app-1 has not started"
	})
	eventually(t, 30*time.Second, func() (bool, string) {
		live := e.sim.live("app-2")
		return len(live) == 2, fmt.Sprintf("app-2 keys %v: want its rotation delivered", ids(live))
	})
	// A reload while the hook hangs, one that changes policy b.
	e.writePolicy(policy("9s"))
	d.signal(syscall.SIGHUP)
	d.waitLog(10*time.Second, "configuration reloaded")
	eventually(t, 40*time.Second, func() (bool, string) {
		k, _ := e.sim.key(old2.Key)
		return !k.Alive, fmt.Sprintf("app-2's old key %s still alive behind app-1's hung after_delivery hook", old2.Key)
	})
	if _, err := os.Stat(filepath.Join(hookDir, "hook.pid")); err != nil {
		t.Fatal("test premise: app-1's hook still hangs")
	}
	if err := os.Remove(filepath.Join(hookDir, "block")); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(hookDir, "hook.pid")); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	d.stop()
}
