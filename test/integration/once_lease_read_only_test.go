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

// A kubeconfig that may read the Lease but not write it (a Role with get,
// list and watch on leases, no update), and a Lease a replica left an
// hour ago: the election finds it expired and tries to take it, and the
// API server refuses every write. No replica holds the Lease: once must
// not tell the operator to stop a replica that is long gone, but say the
// Lease could not be written.
func TestOnceRefusedTheLeaseWriteDoesNotBlameItsDeadHolder(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	k := newKSEnv(t, c, "once-rbac-ro")
	c.Grant(t, "rotatord", k.ns, []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "watch", "create", "update", "delete"}},
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "list", "watch"}},
	})
	kubeconfig := c.Kubeconfig(t, "rotatord")
	cfg := k.policyFile(ksPolicy("0s", ksSink(k.ns, "exo-{{.Name}}", c.Kubeconfig(t, kubetest.Admin), ""))) +
		fmt.Sprintf("state: {backend: kubernetes, namespace: %s, kubeconfig: %s}\n", k.ns, kubeconfig) +
		"leader_election: {lease_duration: 2s, renew_deadline: 1s, retry_period: 250ms}\n"
	writeFileAtomic(t, k.config, cfg)
	holder, seconds := "rotatord-gone_0001", int32(2)
	then := metav1.NewMicroTime(time.Now().Add(-time.Hour))
	if _, err := k.admin.CoordinationV1().Leases(k.ns).Create(k.ctx(), &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "rotatord"},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &seconds, AcquireTime: &then, RenewTime: &then},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	r := k.rotatord("once", "--force")
	if r.code == 0 {
		t.Fatalf("once succeeded without the right to write the Lease:\n%s", r)
	}
	last := lastLine(r.stderr)
	if strings.Contains(last, "another replica holds the Lease") {
		t.Errorf("once, refused writes to a Lease its holder left an hour ago, says another replica holds it:\n%s", last)
	}
	if !strings.Contains(last, k.ns+"/rotatord") || !strings.Contains(last, "forbidden") {
		t.Errorf("once's error does not name the Lease %s/rotatord and the refused write:\n%s", k.ns, last)
	}
}
