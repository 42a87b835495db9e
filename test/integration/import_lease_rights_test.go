package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rotatord/rotatord/internal/kubetest"
)

// An operator's kubeconfig that may write the journal's ConfigMaps and
// read the Lease, but not take it: `state import` fails saying so, the
// Lease and the right missing named in its error (not "another replica
// holds it, or the API server refuses it", after retrying a refusal that
// will not change for twice a lease duration), and writes nothing.
func TestStateImportWithoutTheRightToTakeTheLease(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	k := newKSEnv(t, c, "import-rbac")
	c.Grant(t, "rotatord", k.ns, []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "create", "update", "delete"}},
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get"}},
	})
	kubeconfig := c.Kubeconfig(t, "rotatord")
	cfg := k.policyFile(ksPolicy("0s", ksSink("import-rbac-apps", "exo-{{.Name}}", kubeconfig, ""))) +
		fmt.Sprintf("state: {backend: kubernetes, namespace: %s, kubeconfig: %s}\n", k.ns, kubeconfig) +
		"leader_election: {lease_duration: 2s, renew_deadline: 1s, retry_period: 250ms}\n"
	writeFileAtomic(t, k.config, cfg)

	in := `{"format":"rotatord-journal-v1","accounts":{"default":[{"policy":"ci","name":"ci-runner","current_key_id":"EXOimported"}]}}`
	r := k.runWith(in, "state", "import", "--config.file", k.config)
	if r.code == 0 {
		t.Fatalf("state import succeeded without the right to take the Lease:\n%s", r)
	}
	cms, err := k.admin.CoreV1().ConfigMaps(k.ns).List(k.ctx(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, cm := range cms.Items {
		if cm.Name != "kube-root-ca.crt" {
			t.Errorf("ConfigMap %s written by an import that failed", cm.Name)
		}
	}
	last := lastLine(r.stderr)
	for _, want := range []string{k.ns + "/rotatord", `cannot create resource "leases"`} {
		if !strings.Contains(last, want) {
			t.Errorf("the error does not name %q (the Lease, the right the kubeconfig lacks):\n%s", want, r)
		}
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

// A Lease left by a replica that died, written with a longer
// leaseDurationSeconds than this policy file's lease_duration (the
// replicas ran with another policy file, an older one): checkNoLeader
// watches it for that longer duration and finds it dead, and the
// election then waits as long again before taking it; the import must
// wait for it instead of giving up at twice the configured duration, which
// it would do at every try.
func TestStateImportTakesADeadReplicasLongerLease(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	k := newKSEnv(t, c, "import-dead")
	kubeconfig := c.Kubeconfig(t, kubetest.Admin)
	cfg := k.policyFile(ksPolicy("0s", ksSink("import-dead-apps", "exo-{{.Name}}", kubeconfig, ""))) +
		fmt.Sprintf("state: {backend: kubernetes, namespace: %s, kubeconfig: %s}\n", k.ns, kubeconfig) +
		"leader_election: {lease_duration: 2s, renew_deadline: 1s, retry_period: 250ms}\n"
	writeFileAtomic(t, k.config, cfg)
	holder, seconds := "rotatord-dead_0001", int32(6)
	now := metav1.NewMicroTime(time.Now())
	if _, err := k.admin.CoordinationV1().Leases(k.ns).Create(k.ctx(), &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "rotatord"},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &seconds, AcquireTime: &now, RenewTime: &now},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	in := `{"format":"rotatord-journal-v1","accounts":{"default":[{"policy":"ci","name":"ci-runner","current_key_id":"EXOimported"}]}}`
	r := k.runWith(in, "state", "import", "--config.file", k.config)
	if r.code != 0 {
		t.Fatalf("state import did not take the Lease replica %s left (leaseDurationSeconds %d, not renewed):\n%s", holder, seconds, r)
	}
	if !strings.Contains(r.stderr, "imported 1 records") {
		t.Errorf("state import did not say what it imported:\n%s", r)
	}
}
