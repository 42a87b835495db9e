package integration

// The Kubernetes Secret sink end to end, at its edges: a namespace that
// does not exist, data keys of one's own, and a rendered format. (A Secret
// deleted or edited by someone between rotations stays so until the next
// rotation: a known limit, in the README.)

import (
	"strings"
	"testing"

	"github.com/rotatord/rotatord/internal/kubetest"
)

func TestKubeSinkEdges(t *testing.T) {
	t.Parallel()
	if testing.Short() || rotatordBin == "" {
		t.Skip("integration test: runs the real binaries; skipped with -short")
	}
	c := kubetest.Start(t)

	// The namespace of the sink does not exist: refused before any key
	// is created, naming the namespace.
	t.Run("namespace-missing", func(t *testing.T) {
		t.Parallel()
		k, kubeconfig := newKSEnvAsRotatord(t, c, "present")
		k.writePolicy(ksPolicy("0s", ksSink("absent", "exo-{{.Name}}", kubeconfig, "")))
		old := k.sim.only("ci-runner")
		r := k.rotatord("once", "--force")
		if r.code == 0 {
			t.Fatalf("once into a namespace that does not exist succeeded\n%s", r)
		}
		if !strings.Contains(r.stdout+r.stderr, "absent") {
			t.Errorf("the output does not name the namespace\n%s", r)
		}
		if n := createdNamed(k.env, "ci-runner"); n != 1 {
			t.Errorf("%d keys named ci-runner ever existed, want 1", n)
		}
		if got := k.sim.only("ci-runner").Key; got != old.Key {
			t.Errorf("live key %s, want the old %s", got, old.Key)
		}
		k.checkNoSecretInOutput()
	})

	// Data keys of one's own (envFrom-style names) and a rendered env
	// document.
	t.Run("data-keys", func(t *testing.T) {
		t.Parallel()
		k, kubeconfig := newKSEnvAsRotatord(t, c, "datakeys")
		k.writePolicy(ksPolicy("0s",
			ksSink(k.ns, "exo-{{.Name}}", kubeconfig, "keys: {api_key: EXOSCALE_API_KEY, api_secret: EXOSCALE_API_SECRET}\n"),
			ksSink(k.ns, "exo-{{.Name}}-env", kubeconfig, "key: .env\nformat: env\n"),
		))
		k.mustRun("once", "--force")
		cur := k.sim.only("ci-runner")
		s, ok := k.secret("exo-ci-runner")
		if !ok {
			t.Fatal("no Secret")
		}
		if got := string(s.Data["EXOSCALE_API_KEY"]); got != cur.Key || !k.sim.authenticates(got, string(s.Data["EXOSCALE_API_SECRET"])) {
			t.Errorf("Secret data %v, want the live key %s in EXOSCALE_API_KEY with its secret", dataKeysOf(s.Data), cur.Key)
		}
		if _, ok := s.Data["api_key"]; ok {
			t.Errorf("the default data key api_key was written too")
		}
		e, ok := k.secret("exo-ci-runner-env")
		if !ok {
			t.Fatal("no env Secret")
		}
		if !strings.Contains(string(e.Data[".env"]), "EXOSCALE_API_KEY="+cur.Key) {
			t.Errorf("env Secret does not hold the key")
		}
		k.checkNoSecretInOutput()
	})
}

func dataKeysOf(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
