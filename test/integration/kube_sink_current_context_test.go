package integration

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/rotatord/rotatord/internal/kubetest"
)

// A Secret sink names a kubeconfig and no context: it writes to the
// file's current-context. `kubectl config use-context` on that file moves
// the sink to another cluster, as changing its `context:` would; its
// identity in the journal must change too. Here the operator moves the
// sink from cluster A to cluster B during a grace period, B's Secret
// holding the old key (copied from A for the migration), and B is
// unreachable when the grace period ends: the old key must stay, as when
// the context is named in the sink (TestSecretSinksInTwoClustersShareOneJournalID).
func TestKubeSinkCurrentContextSwitchIsAnotherSink(t *testing.T) {
	t.Parallel()
	if testing.Short() || rotatordBin == "" {
		t.Skip("integration test: runs the real binaries; skipped with -short")
	}
	ca, cb := startCluster(t), startCluster(t)
	k := newKSEnv(t, ca, "apps")
	cb.CreateNamespace(t, "apps")
	ca.Grant(t, "rotatord", "apps", ksSinkRules)
	cb.Grant(t, "rotatord", "apps", ksSinkRules)

	// One kubeconfig file with a context for each cluster.
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := clientcmdapi.NewConfig()
	for name, c := range map[string]*kubetest.Cluster{"a": ca, "b": cb} {
		rc := c.RestConfig("rotatord")
		cfg.Clusters[name] = &clientcmdapi.Cluster{Server: rc.Host, CertificateAuthorityData: rc.CAData}
		cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: rc.BearerToken}
		cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	}
	useContext := func(name string) {
		t.Helper()
		cfg.CurrentContext = name
		if err := clientcmd.WriteToFile(*cfg, kubeconfig); err != nil {
			t.Fatal(err)
		}
	}
	useContext("a")

	old := k.sim.only("ci-runner")
	k.writePolicy(ksPolicy("4s", ksSink("apps", "exo-{{.Name}}", kubeconfig, "")))
	k.mustRun("once", "--force")
	first := k.holds("exo-ci-runner")
	if first == old.Key {
		t.Fatal("test setup: cluster A holds the old key")
	}

	// Cluster B's consumers read the old key from their copy of the
	// Secret; the operator points the kubeconfig at B.
	adminB := cb.Client(t, kubetest.Admin)
	seed := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "exo-ci-runner", Namespace: "apps",
			Labels:      map[string]string{"app.kubernetes.io/managed-by": "rotatord"},
			Annotations: map[string]string{"rotatord.io/policy": "ci"}},
		Data: map[string][]byte{"api_key": []byte(old.Key), "api_secret": []byte(old.Secret)},
	}
	if _, err := adminB.CoreV1().Secrets("apps").Create(k.ctx(), seed, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	useContext("b")

	// Cluster B becomes unreachable; the grace period ends.
	cb.Stop()
	deleteAfter := k.records()["ci-runner"].Rotation.DeleteAfter
	time.Sleep(time.Until(deleteAfter) + 500*time.Millisecond)
	r := k.rotatord("once")
	if kk, _ := k.sim.key(old.Key); !kk.Alive {
		t.Errorf("old key %s deleted although the sink now writes to cluster B (current-context b), whose Secret holds it and was never given the new key (B unreachable)\n%s", old.Key, r)
	}
	// Kept for the reason that matters: the sink in cluster B, named by
	// its context, cannot prove it does not hold the old key; not a
	// failure of something else.
	if want := "@b:" + kubeconfig + ") cannot prove it does not hold key " + old.Key; !strings.Contains(r.String(), want) {
		t.Errorf("rotatord once did not keep the old key because cluster B's sink may hold it (want %q in its output)\n%s", want, r)
	}
}
