package deploy

import (
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
)

// k8sSecretDir is the single-replica variant with rotatord's credential
// in a Kubernetes Secret (issue 6's "Secret reference for the Exoscale
// credential"): an overlay of k8sDir.
const k8sSecretDir = "kubernetes-secret-credential"

// credentialSecret is the Secret the variant mounts; the operator creates
// it, the manifests never do.
const credentialSecret = "rotatord-exoscale"

// loadSecretCredential renders the overlay as kustomize does for what it
// uses: k8sDir's objects, each patch a strategic merge into the object of
// its kind and name.
func loadSecretCredential(t *testing.T) *cluster {
	t.Helper()
	var kust struct {
		Resources []string `yaml:"resources"`
		Patches   []struct {
			Path string `yaml:"path"`
		} `yaml:"patches"`
	}
	decodeYAML(t, filepath.Join(k8sSecretDir, "kustomization.yaml"), &kust)
	if !slices.Equal(kust.Resources, []string{"../" + k8sDir}) {
		t.Fatalf("%s/kustomization.yaml: resources %v, want [../%s] alone", k8sSecretDir, kust.Resources, k8sDir)
	}
	c := loadCluster(t, k8sDir)
	c.dir = k8sSecretDir
	for _, p := range kust.Patches {
		file := filepath.Join(k8sSecretDir, p.Path)
		var patch map[string]any
		decodeYAML(t, file, &patch)
		var o object
		decodeYAML(t, file, &o)
		key := o.Kind + "/" + o.Metadata.Name
		base, ok := c.objects[key]
		if !ok {
			t.Fatalf("%s patches %s, which %s does not have", file, key, k8sDir)
		}
		var schema any
		switch o.Kind {
		case "Deployment":
			schema = appsv1.Deployment{}
		case "ConfigMap":
			schema = corev1.ConfigMap{}
		default:
			t.Fatalf("%s patches a %s: this test knows Deployment and ConfigMap", file, o.Kind)
		}
		var orig map[string]any
		if err := base.node.Decode(&orig); err != nil {
			t.Fatal(err)
		}
		merged, err := strategicpatch.StrategicMergeMapPatch(toUnstructured(t, orig, base.file).Object, toUnstructured(t, patch, file).Object, schema)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		var n yaml.Node
		if err := n.Encode(merged); err != nil {
			t.Fatal(err)
		}
		base.node, base.file = &n, file
		c.objects[key] = base
	}
	return c
}

// TestSecretCredentialVariant: the overlay mounts the Secret read-only,
// readable by rotatord's group alone; its policy signs with the two files
// of that mount and sets no own_key (rotatord cannot write a Secret
// volume), and is otherwise deploy/kubernetes's; nothing in it is a
// Secret (no placeholder credential is ever applied); and the rest of the
// pod is as hardened as the base's.
func TestSecretCredentialVariant(t *testing.T) {
	c := loadSecretCredential(t)
	for k := range c.objects {
		if strings.HasPrefix(k, "Secret/") {
			t.Errorf("%s applies %s: the operator creates the credential's Secret (kubectl create secret), the manifests never do", k8sSecretDir, k)
		}
	}
	var d deployment
	c.get(t, "Deployment", "rotatord", &d)
	checkHardenedPod(t, c, d)
	cfg, mountOf := podPolicy(t, c, d)

	e := cfg.Exoscale
	if e.CredentialFrom != "" || e.APIKeyFile == "" || e.APISecretFile == "" || e.OwnKey != nil || e.APIKey != "" || !e.APISecret.IsZero() {
		t.Errorf("exoscale: credential_from %q, own_key %v, inline key %v: want api_key_file and api_secret_file, without own_key", e.CredentialFrom, e.OwnKey, e.APIKey != "")
	}
	for _, f := range []struct{ field, path, key string }{
		{"api_key_file", e.APIKeyFile, "api_key"},
		{"api_secret_file", e.APISecretFile, "api_secret"},
	} {
		m, v, rel, ok := mountOf(f.path)
		switch {
		case !ok || v.Secret == nil || v.Secret.SecretName != credentialSecret:
			t.Errorf("exoscale.%s %q is not on a volume of Secret %s", f.field, f.path, credentialSecret)
		case !m.ReadOnly:
			t.Errorf("exoscale.%s: mount %s is not read-only", f.field, m.MountPath)
		case v.Secret.DefaultMode == nil || *v.Secret.DefaultMode&0o007 != 0:
			t.Errorf("exoscale.%s: Secret volume mode %v, want none for others (0440: rotatord's group)", f.field, v.Secret.DefaultMode)
		case rel != f.key || len(v.Secret.Items) > 0:
			t.Errorf("exoscale.%s %q: want the Secret's key %s, as the kubectl create secret in %s/kustomization.yaml makes it", f.field, f.path, f.key, k8sSecretDir)
		}
	}
	checkCredentialAndSinks(t, cfg, mountOf, false)

	// The rest of the policy file is the base's.
	var bd deployment
	b := loadCluster(t, k8sDir)
	b.get(t, "Deployment", "rotatord", &bd)
	base, _ := podPolicy(t, b, bd)
	if !reflect.DeepEqual(cfg.Policies, base.Policies) || cfg.StateDir != base.StateDir || cfg.Listen != base.Listen || e.Zone != base.Exoscale.Zone {
		t.Errorf("%s/configmap.yaml differs from %s's beyond the credential: keep its policies, state_dir, listen and zone in step", k8sSecretDir, k8sDir)
	}
	checkNetwork(t, c, d, cfg)
}

// TestSecretCredentialRender checks loadSecretCredential against `kubectl
// kustomize`, when kubectl is installed.
func TestSecretCredentialRender(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("no kubectl: the kustomize render is not compared")
	}
	out, err := exec.Command(kubectl, "kustomize", k8sSecretDir).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%v: %s", err, ee.Stderr)
		}
		t.Fatalf("kubectl kustomize %s: %v", k8sSecretDir, err)
	}
	docs, err := yamlDocs(out)
	if err != nil {
		t.Fatal(err)
	}
	got := render(t, loadSecretCredential(t))
	if len(got) != len(docs) {
		t.Errorf("render makes %d objects, kubectl kustomize %d", len(got), len(docs))
	}
	want := map[string]map[string]any{}
	for _, d := range docs {
		var m map[string]any
		if err := d.Decode(&m); err != nil {
			t.Fatal(err)
		}
		u := toUnstructured(t, m, "kubectl kustomize")
		want[objectKey(u)] = u.Object
	}
	for _, u := range got {
		if w, ok := want[objectKey(u)]; !ok {
			t.Errorf("%s is not in kubectl kustomize's output", objectKey(u))
		} else if d := firstDiff(u.Object, w, ""); d != "" {
			t.Errorf("%s differs from kubectl kustomize's at %s", objectKey(u), d)
		}
	}
}

// TestSecretCredentialAPIServer applies the overlay to a real API server
// (strict field validation) and dry-runs a Pod of its Deployment under the
// namespace's restricted Pod Security level: the Secret volume keeps the
// pod admissible.
func TestSecretCredentialAPIServer(t *testing.T) {
	t.Parallel()
	apply(t, loadSecretCredential(t))
}
