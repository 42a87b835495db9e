package integration

// Review of issue 15: a journal object touched by someone else while a
// leader runs.

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/rotatord/rotatord/internal/kubetest"
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
	// max_age 4s: each name rotates every few seconds.
	time.Sleep(20 * time.Second)
	after := h.journal()
	if after["ci-deploy"].CurrentKeyID == before["ci-deploy"].CurrentKeyID {
		t.Fatalf("test setup: ci-deploy did not rotate either in 20s")
	}
	if b, err := os.ReadFile(h.replicas[0].stderrPath); err == nil {
		t.Logf("leader log lines saying ErrChanged: %d", strings.Count(string(b), "journal record changed by another writer"))
	}
	if after["ci-runner"].CurrentKeyID == before["ci-runner"].CurrentKeyID {
		t.Errorf("ci-runner has not rotated in 20s (max_age 4s) since a label was added to its journal ConfigMap; ci-deploy rotated meanwhile. Its record: current %s, failures %d, last error %q",
			after["ci-runner"].CurrentKeyID, after["ci-runner"].Failures, after["ci-runner"].LastError)
	}
}

// A Secret sink's identity in the journal is its Kind and Target,
// "kubernetes:NAMESPACE/NAME": the cluster (kubeconfig, context) is not in
// it. Delivering one Secret to two clusters (the same apps/exo-ci-runner
// in prod-a and prod-b) is allowed (the config tells the two sinks apart
// by kubeconfig), but the journal does not. Here the sink of cluster B is
// added during the grace period, while B's Secret holds the old key (its
// consumers use it). At the end of the grace period B is unreachable.
// The catch-up step thinks B was delivered (A's mark has B's id) and
// skips it; the deletion check cannot read B, and lets the old key go
// because "rotatord recorded delivering the new key there". Cluster B's
// consumers are left with a deleted key. Had B its own id, the catch-up
// would have tried B, failed, and kept the old key.
func TestSecretSinksInTwoClustersShareOneJournalID(t *testing.T) {
	t.Parallel()
	if testing.Short() || rotatordBin == "" {
		t.Skip("integration test: runs the real binaries; skipped with -short")
	}
	ca, cb := startCluster(t), startCluster(t)
	k := newKSEnv(t, ca, "apps")
	cb.CreateNamespace(t, "apps")
	ca.Grant(t, "rotatord", "apps", ksSinkRules)
	cb.Grant(t, "rotatord", "apps", ksSinkRules)
	kubeA, kubeB := ca.Kubeconfig(t, "rotatord"), cb.Kubeconfig(t, "rotatord")

	old := k.sim.only("ci-runner")
	k.writePolicy(ksPolicy("4s", ksSink("apps", "exo-{{.Name}}", kubeA, "")))
	k.mustRun("once", "--force")
	first := k.holds("exo-ci-runner")
	if first == old.Key {
		t.Fatal("test setup: cluster A holds the old key")
	}

	// Cluster B's consumers read the old key from their Secret; the
	// operator adds B as a second sink, taking that Secret over.
	adminB := cb.Client(t, kubetest.Admin)
	seed := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "exo-ci-runner", Namespace: "apps"},
		Data:       map[string][]byte{"api_key": []byte(old.Key), "api_secret": []byte(old.Secret)},
	}
	if _, err := adminB.CoreV1().Secrets("apps").Create(k.ctx(), seed, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	k.writePolicy(ksPolicy("4s",
		ksSink("apps", "exo-{{.Name}}", kubeA, ""),
		ksSink("apps", "exo-{{.Name}}", kubeB, "take_over: true\n")))

	// Cluster B becomes unreachable; the grace period ends.
	cb.Stop()
	deleteAfter := k.records()["ci-runner"].Rotation.DeleteAfter
	time.Sleep(time.Until(deleteAfter) + 500*time.Millisecond)
	r := k.rotatord("once")
	if kk, _ := k.sim.key(old.Key); !kk.Alive {
		t.Errorf("old key %s deleted although cluster B's Secret holds it and was never given the new key (B unreachable)\n%s", old.Key, r)
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
