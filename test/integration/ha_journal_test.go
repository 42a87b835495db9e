package integration

// Review of issue 15: a journal object touched by someone else while a
// leader runs.

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/rotatord/rotatord/state/kubestate"
)

// A person or a tool touches a journal ConfigMap while the leader runs:
// here only a label (a backup tool's marker, `kubectl label`, an Argo CD
// tracking label), not the record. Its resourceVersion changes, so every
// later write of that record by the leader fails with ErrChanged, and
// nothing ever reads the object again (the journal is reloaded only when
// a replica becomes the leader): that key name never rotates again until
// the leadership changes, while the leader looks healthy. The same
// happens after an edit of the record, after a write whose answer was
// lost when the object cannot be read back, and after a late write of a
// deposed leader.
func TestJournalTouchedByHandStopsThatNameForGood(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	h := newHAEnv(t, c, "review15-touch")
	old := h.oldKeys()
	h.startReplicas(1, haPolicy("4s", "1s"))
	h.waitLeader(h.replicas, 30*time.Second)
	h.waitSettled(old, 60*time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	obj := kubestate.ObjectName("default", "ci", "ci-runner")
	patch := []byte(`{"metadata":{"labels":{"backup.example.com/seen":"true"}}}`)
	if _, err := h.admin.CoreV1().ConfigMaps(h.ns).Patch(ctx, obj, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	before := h.journal()
	// max_age 4s: each name rotates every few seconds; a loaded machine
	// may take several times that, so both are waited for. ci-deploy
	// rotating shows the leader works; ci-runner must rotate too.
	var after map[string]record
	eventually(t, 60*time.Second, func() (bool, string) {
		after = h.journal()
		if after["ci-deploy"].CurrentKeyID == before["ci-deploy"].CurrentKeyID {
			return false, "test setup: ci-deploy did not rotate either"
		}
		if after["ci-runner"].CurrentKeyID == before["ci-runner"].CurrentKeyID {
			r := after["ci-runner"]
			return false, fmt.Sprintf("ci-runner has not rotated (max_age 4s) since a label was added to its journal ConfigMap; ci-deploy rotated meanwhile. Its record: current %s, failures %d, last error %q",
				r.CurrentKeyID, r.Failures, r.LastError)
		}
		return true, ""
	})
	if b, err := os.ReadFile(h.replicas[0].stderrPath); err == nil {
		t.Logf("leader log lines saying ErrChanged: %d", strings.Count(string(b), "journal record changed by another writer"))
	}
}

// The issue's own form of the Kubernetes journal, state: {backend:
// kubernetes, namespace}, with no leader_election block: the Lease is the
// journal's lock (without it, rotatord once or a rolling update's second
// pod would act on the journal beside the daemon), so the journal takes
// it with the defaults. A daemon written that way leads, and once beside
// it is refused, naming the leader, without a call to Exoscale.
func TestKubeJournalWithoutLeaderElectionTakesTheLease(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	h := newHAEnv(t, c, "nolease")
	withoutLeaderElection := func(cfg string) string {
		b, err := os.ReadFile(cfg)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(b), "\n")
		kept := lines[:0]
		for _, l := range lines {
			if !strings.HasPrefix(l, "leader_election:") {
				kept = append(kept, l)
			}
		}
		writeFileAtomic(t, cfg, strings.Join(kept, "\n"))
		return cfg
	}
	policy := haPolicy("1h", "1s")
	p := startKubeProxy(t, c, "r1")
	d := h.startDaemonWith(withoutLeaderElection(h.configFor("r1", p, policy)))
	r := &replica{daemonProc: d, name: "r1", proxy: p}
	h.replicas = append(h.replicas, r)
	leader := h.waitLeader(h.replicas, 60*time.Second)
	if holder := h.leaseHolder(); holder != leader.identity() {
		t.Fatalf("the Lease %s is held by %q, want the daemon %s", haLeaseName, holder, leader.identity())
	}
	h.waitSettled(nil, 40*time.Second)
	startedAt := time.Now()
	res := h.rotatordWith(withoutLeaderElection(h.configFor("once", startKubeProxy(t, c, "once"), policy)), "once", "--force")
	if res.code == 0 || !strings.Contains(res.stderr, leader.identity()) {
		t.Errorf("rotatord once beside a daemon on the same Kubernetes journal, both without leader_election: want it refused naming the leader %s:\n%s", leader.identity(), res)
	}
	for _, q := range h.sim.requests("") {
		if !q.Received.Before(startedAt) && q.replica() != leader.identity() {
			t.Errorf("Exoscale call by another than the leader while once ran: %v", q)
		}
	}
}
