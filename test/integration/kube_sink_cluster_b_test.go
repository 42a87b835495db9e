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

// A Secret sink's identity in the journal must name its cluster. Here
// cluster A's Secret gets the new key; during the grace period the
// operator brings in cluster B, whose Secret holds the old key (its
// consumers use it), and B is unreachable when the grace period ends.
// The old key must stay: the catch-up cannot give B the new key and the
// deletion check cannot read B. Two ways to bring B in:
//
//   - "second sink": a second sink for the same apps/exo-ci-runner with
//     B's kubeconfig. The identity was "kubernetes:NAMESPACE/NAME" for
//     both: the catch-up took B for delivered (A's mark had B's id) and
//     the deletion check let the old key go.
//   - "use-context": one kubeconfig with a context for each cluster and a
//     sink that names none, then `kubectl config use-context b`. The sink
//     follows the file's current-context, so the journal's identity must
//     name the context it resolved: it named the file alone, and the
//     switched sink counted as delivered.
func TestSecretSinkInAnUnreachableNewClusterKeepsTheOldKey(t *testing.T) {
	t.Parallel()
	if testing.Short() || rotatordBin == "" {
		t.Skip("integration test: runs the real binaries; skipped with -short")
	}
	for _, tc := range []struct {
		name string
		// setup returns the first policy's sinks, what brings B in and
		// the kubeconfig the sink moves in ("" when it does not move).
		setup func(t *testing.T, ca, cb *kubetest.Cluster) (first string, bringB func(k *ksEnv), kubeconfig string)
		// seedLabels mark B's Secret as rotatord's (use-context: the
		// same sink, moved) or not (second sink: taken over).
		seedManaged bool
		// want is in rotatord's output when it keeps the old key: kept
		// for the reason that matters, not a failure of something else.
		want func(old, kubeconfig string) []string
	}{
		{
			name: "second sink",
			setup: func(t *testing.T, ca, cb *kubetest.Cluster) (string, func(*ksEnv), string) {
				kubeA, kubeB := ca.Kubeconfig(t, "rotatord"), cb.Kubeconfig(t, "rotatord")
				return ksSink("apps", "exo-{{.Name}}", kubeA, ""), func(k *ksEnv) {
					k.writePolicy(ksPolicy("4s",
						ksSink("apps", "exo-{{.Name}}", kubeA, ""),
						ksSink("apps", "exo-{{.Name}}", kubeB, "take_over: true\n")))
				}, ""
			},
			// B's sink is a sink added since the delivery.
			want: func(string, string) []string {
				return []string{"deliver the new key to a sink added since: sink kubernetes#1"}
			},
		},
		{
			name: "use-context",
			setup: func(t *testing.T, ca, cb *kubetest.Cluster) (string, func(*ksEnv), string) {
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
				return ksSink("apps", "exo-{{.Name}}", kubeconfig, ""), func(*ksEnv) { useContext("b") }, kubeconfig
			},
			seedManaged: true,
			// The same sink, named by its new context (b) in its
			// kubeconfig, may hold the old key: one message, not two
			// pieces that other lines could supply.
			want: func(old, kubeconfig string) []string {
				return []string{"@b:" + kubeconfig + ") cannot prove it does not hold key " + old}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ca, cb := startCluster(t), startCluster(t)
			k := newKSEnv(t, ca, "apps")
			cb.CreateNamespace(t, "apps")
			ca.Grant(t, "rotatord", "apps", ksSinkRules)
			cb.Grant(t, "rotatord", "apps", ksSinkRules)
			first, bringB, kubeconfig := tc.setup(t, ca, cb)

			old := k.sim.only("ci-runner")
			k.writePolicy(ksPolicy("4s", first))
			k.mustRun("once", "--force")
			if k.holds("exo-ci-runner") == old.Key {
				t.Fatal("test setup: cluster A holds the old key")
			}

			seed := &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Name: "exo-ci-runner", Namespace: "apps"},
				Data:       map[string][]byte{"api_key": []byte(old.Key), "api_secret": []byte(old.Secret)},
			}
			if tc.seedManaged {
				seed.Labels = map[string]string{"app.kubernetes.io/managed-by": "rotatord"}
				seed.Annotations = map[string]string{"rotatord.io/policy": "ci"}
			}
			if _, err := cb.Client(t, kubetest.Admin).CoreV1().Secrets("apps").Create(k.ctx(), seed, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			bringB(k)

			// Cluster B becomes unreachable; the grace period ends.
			cb.Stop()
			deleteAfter := k.records()["ci-runner"].Rotation.DeleteAfter
			time.Sleep(time.Until(deleteAfter) + 500*time.Millisecond)
			r := k.rotatord("once")
			if kk, _ := k.sim.key(old.Key); !kk.Alive {
				t.Errorf("old key %s deleted although cluster B's Secret holds it and was never given the new key (B unreachable)\n%s", old.Key, r)
			}
			for _, want := range tc.want(old.Key, kubeconfig) {
				if !strings.Contains(r.String(), want) {
					t.Errorf("rotatord once did not keep the old key because cluster B's sink may hold it (want %q in its output)\n%s", want, r)
				}
			}
		})
	}
}
