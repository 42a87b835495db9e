package integration

import (
	"fmt"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/rotatord/rotatord/internal/kubetest"
)

// A kubeconfig that may write the journal but not read the Lease (RBAC
// without get on leases): once reads the Lease for its wait, falls back
// to lease_duration, and the election is refused until the wait is over.
// The error must say the Lease could not be taken, not that "another
// replica holds the Lease (leader "")": no replica holds it, and an
// operator would look for a daemon that is not there.
func TestOnceRefusedTheLeaseDoesNotNameAnEmptyLeader(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	k := newKSEnv(t, c, "once-rbac")
	c.Grant(t, "rotatord", k.ns, []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "watch", "create", "update", "delete"}},
	})
	kubeconfig := c.Kubeconfig(t, "rotatord")
	cfg := k.policyFile(ksPolicy("0s", ksSink(k.ns, "exo-{{.Name}}", c.Kubeconfig(t, kubetest.Admin), ""))) +
		fmt.Sprintf("state: {backend: kubernetes, namespace: %s, kubeconfig: %s}\n", k.ns, kubeconfig) +
		"leader_election: {lease_duration: 2s, renew_deadline: 1s, retry_period: 250ms}\n"
	writeFileAtomic(t, k.config, cfg)
	r := k.rotatord("once", "--force")
	if r.code == 0 {
		t.Fatalf("once succeeded without the right to read the Lease:\n%s", r)
	}
	last := lastLine(r.stderr)
	if strings.Contains(last, `leader ""`) || strings.Contains(last, "another replica holds the Lease") {
		t.Errorf("once, refused the Lease that no replica holds, says another replica holds it:\n%s", r)
	}
	if !strings.Contains(last, k.ns+"/rotatord") {
		t.Errorf("once's error does not name the Lease %s/rotatord:\n%s", k.ns, r)
	}
}
