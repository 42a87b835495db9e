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

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A leader whose on_failure hook runs (a slow exec hook), paused past the
// Lease and woken while another replica leads, no longer runs that hook:
// it is cancelled (its process killed) once the replica knows it may not
// act, and the new leader runs it from the journal. Before, the hook ran
// on for up to its 5 minutes beside the new leader's run of it.
func TestHADeposedLeaderCancelsItsOnFailureHook(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	h := newHAEnv(t, c, "deposed-hook")
	hookDir := t.TempDir()
	script := filepath.Join(hookDir, "hook.sh")
	writeFile(t, script, fmt.Sprintf(`#!/bin/sh
echo "$ROTATORD_EVENT $ROTATORD_NAME $$" >> %s/calls.log
exec sleep 600
`, hookDir), 0o700)
	var pids []int
	t.Cleanup(func() {
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	hookPids := func() []int {
		b, _ := os.ReadFile(filepath.Join(hookDir, "calls.log"))
		var out []int
		for line := range strings.Lines(string(b)) {
			f := strings.Fields(line)
			if len(f) == 3 && f[0] == "on_failure" {
				if pid, err := strconv.Atoi(f[2]); err == nil {
					out = append(out, pid)
				}
			}
		}
		return out
	}
	// Someone else's Secret where the sink writes: every rotation of
	// ci-runner fails at the probe, and runs the on_failure hook.
	if _, err := h.admin.CoreV1().Secrets(h.ns).Create(t.Context(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "ci-runner", Namespace: h.ns},
		Data:       map[string][]byte{"token": []byte("not rotatord's")},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	h.startReplicas(2, fmt.Sprintf(`  - name: ci
    match: {name: "ci-runner"}
    schedule: "@every 1s"
    max_age: 1h
    grace_period: 1s
    adopt: rotate
    sinks:
      - {type: kubernetes, namespace: $NS, name: "{{.Name}}", kubeconfig: $KUBECONFIG}
    hooks:
      - {event: on_failure, exec: {command: [%s], timeout: 10m}}
`, script))
	leader := h.waitLeader(h.replicas, 30*time.Second)
	standby := others(h.replicas, leader)[0]
	var first int
	eventually(t, 30*time.Second, func() (bool, string) {
		if p := hookPids(); len(p) > 0 {
			first = p[0]
			return true, ""
		}
		return false, "the on_failure hook did not run"
	})
	leader.signal(syscall.SIGSTOP)
	standby.waitLog(30*time.Second, logLeading)
	contAt := time.Now()
	leader.signal(syscall.SIGCONT)
	leader.waitLogAfter(30*time.Second, contAt, logNotLeading)
	eventually(t, 20*time.Second, func() (bool, string) {
		pids = hookPids()
		if err := syscall.Kill(first, 0); err == nil {
			return false, fmt.Sprintf("the on_failure hook the old leader started (pid %d) still runs after it lost the Lease", first)
		}
		return true, ""
	})
	// The new leader's first pass runs the hook owed; it may come after
	// the old leader's hook was killed (a loaded machine: the first pass
	// lists the keys and probes the sink first).
	eventually(t, 60*time.Second, func() (bool, string) {
		pids = hookPids()
		return len(pids) >= 2, fmt.Sprintf("the new leader did not run the on_failure hook owed (hook runs: %v)", pids)
	})
}
