package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestReloadDoesNotWaitForAHungHookAPassRuns: a hook of app-1 (policy
// apps) that a pass runs hangs, and a SIGHUP comes. The reload applies at
// once, and the other policy's work goes on meanwhile: the old key of
// app-2 (policy b, no hooks) is deleted when its grace period ends, not
// when app-1's hook ends (up to its timeout, 30 minutes at most). The
// hook is app-1's after_delivery, or its before_delete (the consumer
// check) with grace_period 0, which the rotating pass runs.
func TestReloadDoesNotWaitForAHungHookAPassRuns(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ event, grace string }{
		{"after_delivery", "1h"},
		{"before_delete", "0s"},
	} {
		t.Run(tc.event, func(t *testing.T) {
			t.Parallel()
			reloadDuringHungHook(t, tc.event, tc.grace)
		})
	}
}

// reloadDuringHungHook runs TestReloadDoesNotWaitForAHungHookAPassRuns
// with app-1's hook at event and its policy's grace_period.
func reloadDuringHungHook(t *testing.T, event, appsGrace string) {
	e := newEnv(t, seedKey{"app-1", "ci"}, seedKey{"app-2", "ci"})
	hookDir := filepath.Join(e.dir, "hook")
	mkdir(t, hookDir)
	script := hookScript(t, hookDir) // kills a blocked hook at the end
	policy := func(grace string) string {
		return fmt.Sprintf(`  - name: apps
    match: {name: "app-1"}
    schedule: "@every 1s"
    max_age: 1h
    grace_period: %s
    adopt: rotate
    sinks:
      - {type: file, path: "$OUT/{{.Name}}.json"}
    hooks:
      - {event: %s, exec: {command: [%s, hook], timeout: 10m}}
  - name: b
    match: {name: "app-2"}
    schedule: "@every 2s"
    max_age: 1h
    grace_period: %s
    adopt: rotate
    sinks:
      - {type: file, path: "$OUT/b-{{.Name}}.json"}
`, appsGrace, event, script, grace)
	}
	e.writePolicy(policy("8s"))
	old1 := e.sim.only("app-1")
	old2 := e.sim.only("app-2")
	writeFile(t, filepath.Join(hookDir, "block"), "", 0o600)

	d := e.startDaemon()
	eventually(t, 30*time.Second, func() (bool, string) {
		_, err := os.Stat(filepath.Join(hookDir, "hook.pid"))
		return err == nil, "the " + event + " hook of app-1 has not started"
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
		return !k.Alive, fmt.Sprintf("app-2's old key %s still alive behind app-1's hung %s hook", old2.Key, event)
	})
	if _, err := os.Stat(filepath.Join(hookDir, "hook.pid")); err != nil {
		t.Fatal("test premise: app-1's hook still hangs")
	}
	if k, _ := e.sim.key(old1.Key); !k.Alive {
		t.Fatalf("app-1's old key %s deleted while its %s hook hangs", old1.Key, event)
	}
	d.stop()
}
