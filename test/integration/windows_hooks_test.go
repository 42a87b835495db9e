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

// hookScript writes an exec hook: it appends one line per call to
// calls.log ("EVENT KEY NEW_KEY_ID IDEMPOTENCY_KEY") and its whole
// environment to env-N, then sleeps for ever while the file "block"
// exists (its pid in hook.pid, so the test can end it).
func hookScript(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "hook.sh")
	writeFile(t, path, fmt.Sprintf(`#!/bin/sh
d=%s
n=$(ls "$d" | grep -c '^env-')
env > "$d/env-$n"
echo "$ROTATORD_EVENT $ROTATORD_NAME $ROTATORD_NEW_KEY_ID $ROTATORD_IDEMPOTENCY_KEY" >> "$d/calls.log"
if [ -e "$d/block" ]; then
	echo $$ > "$d/hook.pid"
	exec sleep 600
fi
`, dir), 0o700)
	// A hook left blocked (exec sleep 600) dies with the test.
	t.Cleanup(func() {
		if b, err := os.ReadFile(filepath.Join(dir, "hook.pid")); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	return path
}

type hookCall struct{ event, name, newKeyID, idempotencyKey string }

func hookCalls(t *testing.T, dir string) []hookCall {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "calls.log"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []hookCall
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.Fields(l)
		if len(f) == 4 {
			out = append(out, hookCall{f[0], f[1], f[2], f[3]})
		}
	}
	return out
}

func callsOf(calls []hookCall, event string) []hookCall {
	var out []hookCall
	for _, c := range calls {
		if c.event == event {
			out = append(out, c)
		}
	}
	return out
}

// TestAfterDeliveryHookRunsAfterSIGKILL: rotatord run is killed with
// SIGKILL while the after_delivery hook of a delivered rotation runs. The
// old key stays alive (the hook is owed), and after the restart the hook
// runs again with the same idempotency key, then the consumer check
// (before_delete) passes and the old key goes. No hook sees a secret.
func TestAfterDeliveryHookRunsAfterSIGKILL(t *testing.T) {
	t.Parallel()
	e := newEnv(t, seedKey{"app-1", "ci"})
	hookDir := filepath.Join(e.dir, "hook")
	mkdir(t, hookDir)
	script := hookScript(t, hookDir)
	t.Cleanup(func() {
		if b, err := os.ReadFile(filepath.Join(hookDir, "hook.pid")); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	e.writePolicy(fmt.Sprintf(`  - name: apps
    match: {name: "app-*"}
    schedule: "@every 1s"
    max_age: 1h
    grace_period: 2s
    adopt: rotate
    sinks:
      - {type: file, path: "$OUT/{{.Name}}.json"}
    hooks:
      - {event: after_delivery, exec: {command: [%[1]s, after], timeout: 10m}}
      - {event: before_delete, exec: {command: [%[1]s, before], timeout: 1m}}
`, script))
	old := e.sim.only("app-1")
	writeFile(t, filepath.Join(hookDir, "block"), "", 0o600)
	sink := filepath.Join(e.out, "app-1.json")

	d := e.startDaemon()
	eventually(t, 30*time.Second, func() (bool, string) {
		_, err := os.Stat(filepath.Join(hookDir, "hook.pid"))
		return err == nil, "the after_delivery hook has not started"
	})
	first := callsOf(hookCalls(t, hookDir), "after_delivery")
	cred, held := readSink(t, sink, "json")
	if len(first) != 1 || !held || first[0].newKeyID != cred.Key || first[0].name != "app-1" {
		t.Fatalf("after_delivery calls %+v, sink holds %q (%v): want one call for the delivered key", first, cred.Key, held)
	}
	d.kill()
	if b, err := os.ReadFile(filepath.Join(hookDir, "hook.pid")); err == nil {
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	if k, _ := e.sim.key(old.Key); !k.Alive {
		t.Fatal("the old key was deleted while its after_delivery hook was owed")
	}

	// The restart, with the hook no longer blocking.
	if err := os.Remove(filepath.Join(hookDir, "block")); err != nil {
		t.Fatal(err)
	}
	d2 := e.startDaemon()
	eventually(t, 60*time.Second, func() (bool, string) {
		k, _ := e.sim.key(old.Key)
		return !k.Alive, fmt.Sprintf("old key %s still alive; hook calls %+v", old.Key, hookCalls(t, hookDir))
	})
	d2.stop()

	calls := hookCalls(t, hookDir)
	after := callsOf(calls, "after_delivery")
	if len(after) != 2 || after[1] != after[0] {
		t.Errorf("after_delivery calls %+v: want the same call again after the restart", after)
	}
	before := callsOf(calls, "before_delete")
	if len(before) != 1 || before[0].newKeyID != cred.Key || before[0].idempotencyKey == after[0].idempotencyKey {
		t.Errorf("before_delete calls %+v: want one, for the new key %s, with its own idempotency key", before, cred.Key)
	}
	if live := e.sim.only("app-1"); live.Key != cred.Key {
		t.Errorf("live key %s, want the delivered %s", live.Key, cred.Key)
	}
	// No hook's environment holds a secret: the old key's or the new one's.
	envs, _ := filepath.Glob(filepath.Join(hookDir, "env-*"))
	if len(envs) != len(calls) {
		t.Errorf("%d environments for %d calls", len(envs), len(calls))
	}
	for _, p := range envs {
		env := readFile(t, p)
		for _, s := range []string{cred.Secret, old.Secret, e.sim.Admin.Secret} {
			if s != "" && strings.Contains(env, s) {
				t.Errorf("hook environment %s holds a secret", filepath.Base(p))
			}
		}
		if !strings.Contains(env, "ROTATORD_SINKS="+sink) {
			t.Errorf("hook environment %s lacks ROTATORD_SINKS=%s:\n%s", filepath.Base(p), sink, env)
		}
	}
}

// TestWindowsWithTheDaemon: a due rotation outside the policy's window
// waits (plan shows the window as NEXT, the metric shows how long the
// window stays closed); `once --force` still waits and `once --force
// --ignore-windows` rotates; with the daemon running, a reload that opens
// the window lets the scheduled pass rotate.
func TestWindowsWithTheDaemon(t *testing.T) {
	t.Parallel()
	e := newEnv(t, seedKey{"app-1", "ci"}, seedKey{"app-2", "ci"})
	now := time.Now().UTC()
	closedDay := now.AddDate(0, 0, 3) // a whole day three days ahead: closed now
	dayName := strings.ToLower(closedDay.Weekday().String()[:3])
	policy := func(windows string) string {
		var b strings.Builder
		for _, n := range []string{"1", "2"} {
			fmt.Fprintf(&b, `  - name: apps%s
    match: {name: "app-%s"}
    schedule: "@every 1s"
    max_age: 1h
    grace_period: 0s
    adopt: rotate
    sinks:
      - {type: file, path: "$OUT/p%s-{{.Name}}.json"}
    windows:
%s`, n, n, n, windows)
		}
		return b.String()
	}
	closed := fmt.Sprintf("      - {days: [%s], start: \"00:00\", end: \"24:00\", time_zone: UTC}\n", dayName)
	e.writePolicy(policy(closed))
	old1, old2 := e.sim.only("app-1"), e.sim.only("app-2")

	opens := time.Date(closedDay.Year(), closedDay.Month(), closedDay.Day(), 0, 0, 0, 0, time.UTC)
	plan := e.mustRun("plan", "--output", "json")
	if !strings.Contains(plan.stdout, "outside the policy's windows") || !strings.Contains(plan.stdout, opens.Format("2006-01-02T15:04")) {
		t.Errorf("plan does not show the next window (%s) for the waiting names:\n%s", opens.Format(time.RFC3339), plan.stdout)
	}
	r := e.rotatord("once", "--force")
	if len(e.sim.live("app-1")) != 1 || e.sim.only("app-1").Key != old1.Key {
		t.Fatalf("once --force rotated outside the window:\n%s", r)
	}
	e.mustRun("once", "--force", "--ignore-windows", "--policy", "apps1")
	if k := e.sim.only("app-1"); k.Key == old1.Key {
		t.Fatal("once --force --ignore-windows did not rotate app-1")
	}

	d := e.startDaemon()
	d.waitLog(10*time.Second, "pass done")
	time.Sleep(2 * time.Second) // two more scheduled passes
	if k := e.sim.only("app-2"); k.Key != old2.Key {
		t.Fatal("the daemon rotated app-2 outside its window")
	}
	if v, ok := metricValue(d.metrics(), `rotatord_policy_window_closed_max_seconds{account="default",policy="apps2"}`); !ok || v < 6*24*3600 {
		t.Errorf("rotatord_policy_window_closed_max_seconds = %v (present %v), want six days or more", v, ok)
	}
	e.writePolicy(policy("      - {days: [\"*\"], start: \"00:00\", end: \"24:00\", time_zone: Europe/Zurich}\n"))
	d.signal(syscall.SIGHUP)
	eventually(t, 30*time.Second, func() (bool, string) {
		live := e.sim.live("app-2")
		return len(live) == 1 && live[0].Key != old2.Key, fmt.Sprintf("app-2 keys %v after the window opened", ids(live))
	})
	d.stop()
}
