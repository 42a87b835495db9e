package integration

// Issue #15: `state export` / `state import` move a journal between the
// backends offline, and the Kubernetes backend resumes or rolls back the
// rotations in flight exactly as a restarted process does from its
// directory. Here a single process with the directory backend is killed
// with a create in flight; its journal is moved into the API server, and
// `once` on the Kubernetes backend must clean up what it left: in the end
// one live key, the one the Secret holds.

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rotatord/rotatord/internal/kubetest"
)

func TestJournalMovedMidRotationIsRecovered(t *testing.T) {
	t.Parallel()
	if testing.Short() || rotatordBin == "" {
		t.Skip("integration test: runs the real binaries; skipped with -short")
	}
	c := kubetest.Start(t)
	k := newKSEnv(t, c, "journal-move")
	c.CreateNamespace(t, "journal-move-sink")
	c.Grant(t, "rotatord", k.ns, ksJournalRules)
	c.Grant(t, "rotatord", "journal-move-sink", ksSinkRules)
	kubeconfig := c.Kubeconfig(t, "rotatord")
	policies := ksPolicy("0s", ksSink("journal-move-sink", "exo-{{.Name}}", kubeconfig, ""))
	dirCfg := k.config
	writeFileAtomic(t, dirCfg, strings.Replace(k.policyFile(policies), "  timeout: 10s\n", "  timeout: 3s\n", 1))
	kubeCfg := filepath.Join(k.dir, "kube.yml")
	writeFileAtomic(t, kubeCfg, strings.Replace(k.policyFile(policies), "  timeout: 10s\n", "  timeout: 3s\n", 1)+
		fmt.Sprintf("state: {backend: kubernetes, namespace: %s, kubeconfig: %s}\nleader_election: {lease_duration: 3s, renew_deadline: 2s, retry_period: 500ms}\n", k.ns, kubeconfig))
	old := k.sim.only("ci-runner")

	// A create held 2s by exosim; the process dies while it is in flight.
	k.sim.setFaults(`{"create-api-key": {"latency": "2s"}}`)
	cmd := exec.Command(rotatordBin, "once", "--force", "--config", dirCfg)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, func() (bool, string) {
		for _, r := range k.sim.requests("?op=create-api-key") {
			if r.Answered.IsZero() {
				return true, ""
			}
		}
		return false, "no create in flight"
	})
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	k.sim.clearFaults()
	time.Sleep(3 * time.Second) // exosim answers the create: a key nobody holds

	r := k.runWith("", "state", "export", "--config.file", dirCfg)
	if r.code != 0 {
		t.Fatalf("state export: %s", r)
	}
	if !strings.Contains(r.stdout, "intent") {
		t.Errorf("the export holds no rotation in flight:\n%s", r.stdout)
	}
	if ri := k.runWith(r.stdout, "state", "import", "--config.file", kubeCfg); ri.code != 0 {
		t.Fatalf("state import: %s", ri)
	}

	// The Kubernetes backend takes it from there.
	var last result
	eventually(t, 90*time.Second, func() (bool, string) {
		last = k.rotatordWith(kubeCfg, "once")
		live := k.sim.live("ci-runner")
		if len(live) != 1 {
			return false, fmt.Sprintf("live keys %v\n%s", ids(live), last)
		}
		held := old.Key
		if s, err := k.admin.CoreV1().Secrets("journal-move-sink").Get(k.ctx(), "exo-ci-runner", metav1.GetOptions{}); err == nil {
			held = string(s.Data["api_key"])
		}
		if live[0].Key != held {
			return false, fmt.Sprintf("live key %s, sink holds %s", live[0].Key, held)
		}
		return last.code == 0, last.String()
	})
	k.checkNoSecretInOutput()
}
