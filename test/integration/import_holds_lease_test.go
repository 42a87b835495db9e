package integration

import (
	"fmt"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rotatord/rotatord/internal/kubetest"
)

// `state import` into the Kubernetes backend holds the Lease while it
// writes, as the directory backend's import holds the directory's lock: a
// replica started during an import (a rolling update, a pod rescheduled)
// waits as a standby instead of leading on the part of the journal written
// so far. Once done, it lets the Lease go, so that a replica takes over at
// once.
func TestStateImportHoldsTheLease(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	k := newKSEnv(t, c, "import-lease")
	kubeconfig := c.Kubeconfig(t, kubetest.Admin)
	cfg := k.policyFile(ksPolicy("0s", ksSink("import-lease-apps", "exo-{{.Name}}", kubeconfig, ""))) +
		fmt.Sprintf("state: {backend: kubernetes, namespace: %s, kubeconfig: %s}\n", k.ns, kubeconfig) +
		"leader_election: {lease_duration: 2s, renew_deadline: 1s, retry_period: 250ms}\n"
	writeFileAtomic(t, k.config, cfg)

	in := `{"format":"rotatord-journal-v1","accounts":{"default":[{"policy":"ci","name":"ci-runner","current_key_id":"EXOimported"}]}}`
	r := k.runWith(in, "state", "import", "--config.file", k.config)
	if r.code != 0 {
		t.Fatalf("state import: %s", r)
	}
	lease, err := k.admin.CoordinationV1().Leases(k.ns).Get(k.ctx(), "rotatord", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the Lease after the import: %v (the import wrote the journal without taking it)", err)
	}
	if h := lease.Spec.HolderIdentity; h != nil && *h != "" {
		t.Errorf("after the import the Lease names %q: it must be let go, so that a replica takes over at once", *h)
	}
	if !strings.Contains(r.stderr, "imported 1 records") {
		t.Errorf("state import did not say what it imported:\n%s", r)
	}
}
