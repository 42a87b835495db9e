package integration

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rotatord/rotatord/internal/kubetest"
)

// TestKubeSinkNeverOverwritesRotatordsOwnCredentialSecret: rotatord's own
// credential in a Secret (deploy/kubernetes-secret-credential mounts it for
// api_key_file and api_secret_file) is known to no sink by its name, and a
// policy's Secret sink with take_over whose template rendered that name
// replaced the key rotatord signs with, through any kubeconfig or context
// of the cluster. The real `rotatord once` now refuses it at the probe
// (the Secret holds the key rotatord signs with), before any key is
// created, and the Secret keeps its data.
func TestKubeSinkNeverOverwritesRotatordsOwnCredentialSecret(t *testing.T) {
	t.Parallel()
	if testing.Short() || rotatordBin == "" {
		t.Skip("integration test: runs the real binaries; skipped with -short")
	}
	c := kubetest.Start(t)
	k, kubeconfig := newKSEnvAsRotatord(t, c, "rotatord")
	admin := k.sim.Admin
	pre, err := k.admin.CoreV1().Secrets(k.ns).Create(k.ctx(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "exo-ci-runner", Namespace: k.ns},
		Data:       map[string][]byte{"api_key": []byte(admin.Key), "api_secret": []byte(admin.Secret)},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	k.writePolicy(ksPolicy("0s", ksSink(k.ns, "exo-{{.Name}}", kubeconfig, "take_over: true\n")))
	before := k.sim.keys()
	old := k.sim.only("ci-runner")
	r := k.rotatord("once", "--force")
	if r.code == 0 {
		t.Errorf("once over rotatord's own credential Secret succeeded\n%s", r)
	}
	if !strings.Contains(r.stdout+r.stderr, "rotatord's own credential") {
		t.Errorf("the output does not say the Secret is rotatord's own credential\n%s", r)
	}
	if s, _ := k.secret("exo-ci-runner"); s.ResourceVersion != pre.ResourceVersion || string(s.Data["api_key"]) != admin.Key {
		t.Errorf("rotatord's own credential Secret was changed: it holds %s", s.Data["api_key"])
	}
	if got := k.sim.only("ci-runner").Key; got != old.Key {
		t.Errorf("live key %s, want the old %s", got, old.Key)
	}
	if n := createdNamed(k.env, "ci-runner"); n != 1 {
		t.Errorf("%d keys named ci-runner ever existed, want 1: a key was created for a refused sink", n)
	}
	otherKeysUntouched(k.env, before, "ci-runner", "ci-deploy", "backup-agent", adminName)
	k.checkNoSecretInOutput()
}
