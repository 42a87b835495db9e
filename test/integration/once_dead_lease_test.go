package integration

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rotatord/rotatord/internal/kubetest"
)

// A Lease left by a replica that died, written with a longer
// leaseDurationSeconds than this policy file's lease_duration (the
// replicas ran with another policy file, or another replica was
// configured longer): client-go takes it only once that longer duration
// has passed without a renewal, so `once` must wait for it, as `state
// import` does (TestStateImportTakesADeadReplicasLongerLease), instead of
// giving up at twice the configured duration and naming the dead replica
// as the leader, which it would do at every try.
func TestOnceTakesADeadReplicasLongerLease(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	k := newKSEnv(t, c, "once-dead")
	kubeconfig := c.Kubeconfig(t, kubetest.Admin)
	cfg := k.policyFile(ksPolicy("0s", ksSink(k.ns, "exo-{{.Name}}", kubeconfig, ""))) +
		fmt.Sprintf("state: {backend: kubernetes, namespace: %s, kubeconfig: %s}\n", k.ns, kubeconfig) +
		"leader_election: {lease_duration: 2s, renew_deadline: 1s, retry_period: 250ms}\n"
	writeFileAtomic(t, k.config, cfg)
	holder, seconds := "rotatord-dead_0001", int32(5)
	now := metav1.NewMicroTime(time.Now())
	if _, err := k.admin.CoordinationV1().Leases(k.ns).Create(k.ctx(), &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "rotatord"},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &seconds, AcquireTime: &now, RenewTime: &now},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	old := k.sim.live("ci-runner")
	r := k.rotatord("once", "--force")
	if r.code != 0 {
		t.Fatalf("once did not take the Lease replica %s left (leaseDurationSeconds %d, not renewed; lease_duration 2s):\n%s", holder, seconds, r)
	}
	if strings.Contains(r.stderr, "another replica holds the Lease") {
		t.Errorf("once succeeded but says another replica holds the Lease:\n%s", r)
	}
	// It ran the pass: the sink holds a new key of ci-runner.
	if held := k.holds("exo-ci-runner"); slices.Contains(ids(old), held) {
		t.Errorf("after once the sink holds %s, a key of ci-runner from before it (%v)", held, ids(old))
	}
}
