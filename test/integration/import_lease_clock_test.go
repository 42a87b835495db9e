package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rotatord/rotatord/internal/kubetest"
)

// `state import` into the Kubernetes backend refuses while a replica holds
// the Lease. A live replica whose clock runs behind the importing
// machine's (an hour here; any skew above the lease duration will do)
// writes renewTime values that look long expired by the importer's clock:
// the import must not take that for a dead replica, and must not replace
// the journal under a leader that is renewing the Lease and acting.
func TestStateImportRefusesALeaseRenewedByAReplicaWithASlowClock(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	k := newKSEnv(t, c, "import-skew")
	kubeconfig := c.Kubeconfig(t, kubetest.Admin)
	cfg := k.policyFile(ksPolicy("0s", ksSink("import-skew-apps", "exo-{{.Name}}", kubeconfig, ""))) +
		fmt.Sprintf("state: {backend: kubernetes, namespace: %s, kubeconfig: %s}\n", k.ns, kubeconfig) +
		"leader_election: {lease_duration: 3s, renew_deadline: 2s, retry_period: 500ms}\n"
	writeFileAtomic(t, k.config, cfg)

	// The live replica: it renews the Lease every 500ms, by its own
	// clock, an hour behind.
	ctx, cancel := context.WithCancel(context.Background())
	renewing := make(chan struct{})
	t.Cleanup(func() { cancel(); <-renewing })
	leases := k.admin.CoordinationV1().Leases(k.ns)
	holder, seconds := "rotatord-slow-clock_0001", int32(3)
	behind := func() *metav1.MicroTime { t := metav1.NewMicroTime(time.Now().Add(-time.Hour)); return &t }
	if _, err := leases.Create(k.ctx(), &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "rotatord"},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &seconds, AcquireTime: behind(), RenewTime: behind()},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(renewing)
		for ctx.Err() == nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(500 * time.Millisecond):
			}
			l, err := leases.Get(ctx, "rotatord", metav1.GetOptions{})
			if err != nil {
				continue
			}
			l.Spec.RenewTime = behind()
			_, _ = leases.Update(ctx, l, metav1.UpdateOptions{})
		}
	}()

	in := `{"format":"rotatord-journal-v1","accounts":{"default":[{"policy":"ci","name":"ci-runner","current_key_id":"EXOimported"}]}}`
	r := k.runWith(in, "state", "import", "--config.file", k.config, "--log.format", "console")
	if r.code == 0 {
		t.Errorf("state import replaced the journal while replica %s renews the Lease (its clock an hour behind):\n%s", holder, r)
	} else if !strings.Contains(r.stderr, holder) {
		t.Errorf("state import refused, but without naming the replica %s that holds the Lease:\n%s", holder, r)
	}
}
