package deploy

// The high-availability variant of the Kubernetes manifests
// (deploy/kubernetes-ha), and both variants applied to a real API server.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.uber.org/zap"
	"go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/rotatord/rotatord/config"
	"github.com/rotatord/rotatord/config/schema"
	"github.com/rotatord/rotatord/internal/kubetest"
	"github.com/rotatord/rotatord/internal/leader"
	"github.com/rotatord/rotatord/secret"
	"github.com/rotatord/rotatord/sinks"
	k8ssink "github.com/rotatord/rotatord/sinks/kubernetes"
	"github.com/rotatord/rotatord/state"
	"github.com/rotatord/rotatord/state/kubestate"
)

const k8sHADir = "kubernetes-ha"

// crdKinds are the Prometheus Operator's kinds: the test API server has
// no CustomResourceDefinition for them, so they are not applied there.
var crdKinds = []string{"ServiceMonitor", "PrometheusRule"}

// clusterScoped are the kinds of the manifests that live in no namespace.
var clusterScoped = []string{"Namespace", "ClusterRole", "ClusterRoleBinding"}

type serviceAccount struct {
	AutomountServiceAccountToken *bool `yaml:"automountServiceAccountToken"`
}

// haDeployment is what the HA variant's checks read beyond deployment.
type haDeployment struct {
	Metadata objectMeta `yaml:"metadata"`
	Spec     struct {
		Strategy struct {
			Type          string `yaml:"type"`
			RollingUpdate *struct {
				MaxSurge       *intOrString `yaml:"maxSurge"`
				MaxUnavailable *intOrString `yaml:"maxUnavailable"`
			} `yaml:"rollingUpdate"`
		} `yaml:"strategy"`
		Template struct {
			Spec struct {
				Affinity struct {
					PodAntiAffinity struct {
						Preferred []struct {
							Weight          int `yaml:"weight"`
							PodAffinityTerm struct {
								TopologyKey   string `yaml:"topologyKey"`
								LabelSelector struct {
									MatchLabels map[string]string `yaml:"matchLabels"`
								} `yaml:"labelSelector"`
							} `yaml:"podAffinityTerm"`
						} `yaml:"preferredDuringSchedulingIgnoredDuringExecution"`
						Required []any `yaml:"requiredDuringSchedulingIgnoredDuringExecution"`
					} `yaml:"podAntiAffinity"`
				} `yaml:"affinity"`
				Volumes []map[string]any `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type podDisruptionBudget struct {
	Spec struct {
		MaxUnavailable             *intOrString `yaml:"maxUnavailable"`
		MinAvailable               *intOrString `yaml:"minAvailable"`
		UnhealthyPodEvictionPolicy string       `yaml:"unhealthyPodEvictionPolicy"`
		Selector                   struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
	} `yaml:"spec"`
}

type rbacRole struct {
	Metadata objectMeta `yaml:"metadata"`
	Rules    []struct {
		APIGroups     []string `yaml:"apiGroups"`
		Resources     []string `yaml:"resources"`
		ResourceNames []string `yaml:"resourceNames"`
		Verbs         []string `yaml:"verbs"`
	} `yaml:"rules"`
}

type rbacBinding struct {
	Metadata objectMeta `yaml:"metadata"`
	RoleRef  struct {
		APIGroup string `yaml:"apiGroup"`
		Kind     string `yaml:"kind"`
		Name     string `yaml:"name"`
	} `yaml:"roleRef"`
	Subjects []struct {
		Kind      string `yaml:"kind"`
		Name      string `yaml:"name"`
		Namespace string `yaml:"namespace"`
	} `yaml:"subjects"`
}

// haCluster loads the HA variant with its Deployment, namespace and policy.
type haCluster struct {
	*cluster
	d         deployment
	ha        haDeployment
	namespace string // rotatord's, the Namespace object's name
	cfg       *config.Config
	mountOf   mountFunc
}

func loadHA(t *testing.T) *haCluster {
	t.Helper()
	h := &haCluster{cluster: loadCluster(t, k8sHADir)}
	h.get(t, "Deployment", "rotatord", &h.d)
	h.get(t, "Deployment", "rotatord", &h.ha)
	var namespaces []string
	for _, k := range h.order {
		if name, ok := strings.CutPrefix(k, "Namespace/"); ok {
			namespaces = append(namespaces, name)
		}
	}
	if len(namespaces) != 1 {
		t.Fatalf("%s: Namespaces %v, want exactly rotatord's", k8sHADir, namespaces)
	}
	h.namespace = namespaces[0]
	h.cfg, h.mountOf = podPolicy(t, h.cluster, h.d)
	return h
}

// TestHAKustomization checks that kustomization.yaml applies every manifest
// of the directory, the resources HA needs and none it must not have, each
// in a namespace of its own choosing (there is no kustomize namespace, which
// would move the sink's Role too), and that the copies of the
// single-replica variant's manifests did not drift from them.
func TestHAKustomization(t *testing.T) {
	h := loadHA(t)
	if h.kust.Namespace != "" {
		t.Errorf("kustomization.yaml sets namespace %q: kustomize would move every object there, the Role of a Secret sink's namespace included", h.kust.Namespace)
	}
	entries, err := os.ReadDir(k8sHADir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || name == "kustomization.yaml" || !strings.HasSuffix(name, ".yaml") {
			continue
		}
		if !slices.Contains(h.kust.Resources, name) {
			t.Errorf("%s/%s is not listed in kustomization.yaml", k8sHADir, name)
		}
	}
	kinds := map[string]bool{}
	for _, k := range h.order {
		kind, _, _ := strings.Cut(k, "/")
		kinds[kind] = true
	}
	for _, kind := range []string{"Namespace", "ServiceAccount", "Role", "RoleBinding", "ConfigMap", "Deployment", "PodDisruptionBudget", "Service", "ServiceMonitor", "PrometheusRule"} {
		if !kinds[kind] {
			t.Errorf("no %s among the resources", kind)
		}
	}
	for kind, why := range map[string]string{
		"PersistentVolumeClaim": "the journal is in the API server",
		"Secret":                "rotatord's credential lives in Vault",
		"ClusterRole":           "rotatord needs no cluster-wide right",
		"ClusterRoleBinding":    "rotatord needs no cluster-wide right",
	} {
		if kinds[kind] {
			t.Errorf("a %s among the resources: %s", kind, why)
		}
	}
	sinkNamespaces := map[string]bool{}
	for _, p := range h.cfg.Policies {
		for _, s := range p.Sinks {
			if s.Type == config.SinkKubernetes {
				sinkNamespaces[s.Namespace] = true
			}
		}
	}
	for ns := range sinkNamespaces {
		if _, ok := h.objects["Namespace/"+ns]; ok && ns != h.namespace {
			t.Errorf("namespace %s of a Secret sink is created by %s: it belongs to the application", ns, k8sHADir)
		}
	}
	for _, k := range h.order {
		o := h.objects[k]
		switch {
		case slices.Contains(clusterScoped, o.Kind):
		case o.Metadata.Namespace == "":
			t.Errorf("%s: %s has no namespace: kubectl would put it in the current one", o.file, k)
		case o.Metadata.Namespace != h.namespace && !(sinkNamespaces[o.Metadata.Namespace] && (o.Kind == "Role" || o.Kind == "RoleBinding")):
			t.Errorf("%s: %s is in namespace %s, want %s (only the RBAC of a Secret sink is elsewhere)", o.file, k, o.Metadata.Namespace, h.namespace)
		}
	}

	// The copies: the same objects as deploy/kubernetes, but for the
	// namespace each names.
	base := loadCluster(t, k8sDir)
	for _, k := range []string{"Namespace/rotatord", "Service/rotatord", "ServiceMonitor/rotatord"} {
		var got, want map[string]any
		h.get(t, strings.Split(k, "/")[0], strings.Split(k, "/")[1], &got)
		base.get(t, strings.Split(k, "/")[0], strings.Split(k, "/")[1], &want)
		if md, ok := got["metadata"].(map[string]any); ok && md["namespace"] == base.kust.Namespace {
			delete(md, "namespace")
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s differs between %s and %s (beyond its namespace)", k, k8sHADir, k8sDir)
		}
	}
}

// TestHADeployment checks the HA Deployment: the hardening of the
// single-replica one, two replicas on different nodes if possible, a
// rolling update that never runs below two, no volume for the state, and
// the service account token mounted for the API calls.
func TestHADeployment(t *testing.T) {
	h := loadHA(t)
	checkHardenedPod(t, h.cluster, h.d)
	spec := h.d.Spec.Template.Spec

	if h.ha.Metadata.Namespace != h.namespace {
		t.Errorf("Deployment in namespace %q, want %s", h.ha.Metadata.Namespace, h.namespace)
	}
	if r := h.d.Spec.Replicas; r == nil || *r != 2 {
		t.Errorf("replicas %v, want 2: a leader and a standby", r)
	}
	st := h.ha.Spec.Strategy
	if st.Type != "RollingUpdate" || st.RollingUpdate == nil || st.RollingUpdate.MaxUnavailable == nil || st.RollingUpdate.MaxSurge == nil {
		t.Errorf("strategy %+v, want RollingUpdate with maxSurge and maxUnavailable: the Lease keeps replicas from acting side by side", st)
	} else {
		unavail, surge := *st.RollingUpdate.MaxUnavailable, *st.RollingUpdate.MaxSurge
		if unavail.Str != "" || unavail.Int > 1 {
			t.Errorf("maxUnavailable %+v, want 0 or 1: a rollout must keep a replica to lead", unavail)
		}
		if unavail.Int == 0 && (surge.Str != "" || surge.Int < 1) {
			t.Errorf("maxUnavailable 0 with maxSurge %+v: the rollout could never start a new pod", surge)
		}
	}
	aa := h.ha.Spec.Template.Spec.Affinity.PodAntiAffinity
	if len(aa.Required) > 0 {
		t.Error("required pod anti-affinity: on a single node the second replica (or a rollout's extra pod) would never run; prefer it")
	}
	if len(aa.Preferred) != 1 || aa.Preferred[0].PodAffinityTerm.TopologyKey != "kubernetes.io/hostname" ||
		!subset(aa.Preferred[0].PodAffinityTerm.LabelSelector.MatchLabels, h.d.Spec.Template.Metadata.Labels) ||
		len(aa.Preferred[0].PodAffinityTerm.LabelSelector.MatchLabels) == 0 || aa.Preferred[0].Weight < 1 {
		t.Errorf("pod anti-affinity %+v, want one preferred term on kubernetes.io/hostname selecting the pod labels %v", aa.Preferred, h.d.Spec.Template.Metadata.Labels)
	}

	// The API calls use the service account token the kubelet mounts: the
	// pod asks for it, the ServiceAccount does not give it to every pod.
	if !isTrue(spec.AutomountServiceAccountToken) {
		t.Error("pod automountServiceAccountToken is not true: rotatord's in-cluster client reads the mounted token")
	}
	var sa serviceAccount
	h.get(t, "ServiceAccount", spec.ServiceAccountName, &sa)
	if a := sa.AutomountServiceAccountToken; a == nil || *a {
		t.Errorf("ServiceAccount %s: automountServiceAccountToken is not false: only rotatord's pod should carry its token", spec.ServiceAccountName)
	}
	psc := spec.SecurityContext
	if psc.FSGroup == nil || *psc.FSGroup != uidNonRoot {
		t.Errorf("pod securityContext: fsGroup %v, want %d (the projected tokens' group)", psc.FSGroup, uidNonRoot)
	}

	// No state on disk: every volume is the policy file or a token, and
	// every mount is read-only.
	for _, v := range h.ha.Spec.Template.Spec.Volumes {
		if _, ok := v["configMap"]; !ok {
			if _, ok := v["projected"]; !ok {
				t.Errorf("volume %v: want only the policy ConfigMap and projected tokens (the journal is in the API server)", v["name"])
			}
		}
	}
	for _, m := range spec.Containers[0].VolumeMounts {
		if !m.ReadOnly {
			t.Errorf("volume mount %s (%s) is writable: rotatord writes nothing to disk here", m.Name, m.MountPath)
		}
	}

	var pdb podDisruptionBudget
	h.get(t, "PodDisruptionBudget", "rotatord", &pdb)
	if !subset(pdb.Spec.Selector.MatchLabels, h.d.Spec.Template.Metadata.Labels) || len(pdb.Spec.Selector.MatchLabels) == 0 {
		t.Errorf("PodDisruptionBudget selector %v does not select the pod labels %v", pdb.Spec.Selector.MatchLabels, h.d.Spec.Template.Metadata.Labels)
	}
	if mu := pdb.Spec.MaxUnavailable; mu == nil || mu.Str != "" || mu.Int != 1 || pdb.Spec.MinAvailable != nil {
		t.Errorf("PodDisruptionBudget maxUnavailable %+v minAvailable %+v, want maxUnavailable 1: one eviction at a time", mu, pdb.Spec.MinAvailable)
	}
	if pdb.Spec.UnhealthyPodEvictionPolicy != "AlwaysAllow" {
		t.Errorf("PodDisruptionBudget unhealthyPodEvictionPolicy %q, want AlwaysAllow: a leader not ready while the Exoscale API fails must not block a node drain", pdb.Spec.UnhealthyPodEvictionPolicy)
	}
}

// TestHAPolicyInCluster parses the HA ConfigMap's policy file with
// rotatord's parser and checks it against the manifests: the journal in
// the API server in rotatord's namespace, leader election, in-cluster
// clients, the credential and sinks as in the single-replica variant.
func TestHAPolicyInCluster(t *testing.T) {
	h := loadHA(t)
	cfg := h.cfg
	checkCredentialAndSinks(t, cfg, h.mountOf, true)
	if !cfg.State.Kubernetes() || cfg.State.Namespace != h.namespace || cfg.State.Kubeconfig != "" {
		t.Errorf("state %+v, want backend %s in namespace %s, in-cluster (no kubeconfig)", cfg.State, config.StateKubernetes, h.namespace)
	}
	if cfg.LeaderElection == nil {
		t.Error("no leader_election: two replicas would both act")
	}
	n := 0
	for _, p := range cfg.Policies {
		for i, s := range p.Sinks {
			if s.Type != config.SinkKubernetes {
				continue
			}
			n++
			if s.Kubeconfig != "" {
				t.Errorf("policy %s sink %d: kubeconfig %s: in the cluster, the sink uses the pod's service account (and rbac.yaml)", p.Name, i, s.Kubeconfig)
			}
			if len(s.Restart) == 0 {
				t.Errorf("policy %s sink %d restarts nothing: the example shows restart", p.Name, i)
			}
		}
	}
	if n == 0 {
		t.Error("no Kubernetes Secret sink in the example policy")
	}
	checkNetwork(t, h.cluster, h.d, cfg)
}

// TestHAPolicyMatchesSchema validates the HA policy file against the JSON
// Schema editors use (config/rotatord.schema.json), as config/schema's
// tests do for the other example policies.
func TestHAPolicyMatchesSchema(t *testing.T) {
	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	decodeYAML(t, filepath.Join(k8sHADir, "configmap.yaml"), &cm)
	var v any
	if err := yaml.Unmarshal([]byte(cm.Data["rotatord.yml"]), &v); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("../config/rotatord.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(schema.ID, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(schema.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(inst); err != nil {
		t.Errorf("%s/configmap.yaml's policy does not match the schema:\n%v", k8sHADir, err)
	}
}

// perm is one right: a verb on a resource in a namespace, on the object
// Name or (empty) on any.
type perm struct {
	Namespace, Group, Resource, Verb, Name string
}

func (p perm) String() string {
	r := p.Resource
	if p.Group != "" {
		r += "." + p.Group
	}
	if p.Name != "" {
		r += "/" + p.Name
	}
	return fmt.Sprintf("%s %s in %s", p.Verb, r, p.Namespace)
}

func sortedPerms(set map[perm]bool) []perm {
	out := slices.Collect(maps.Keys(set))
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// policyNeeds is every right rotatord's service account needs for cfg:
// the Lease and the journal in the state's namespace, and for each Secret
// sink in the cluster its Secrets and the workloads it restarts.
func policyNeeds(cfg *config.Config) map[perm]bool {
	need := map[perm]bool{}
	add := func(ns, group, resource, name string, verbs ...string) {
		for _, v := range verbs {
			need[perm{ns, group, resource, v, name}] = true
		}
	}
	if cfg.State.Kubernetes() && cfg.State.Kubeconfig == "" {
		ns := cfg.State.Namespace
		// kubestate: List on Reload, Create, Update and Delete on writes.
		add(ns, "", "configmaps", "", "get", "list", "create", "update", "delete")
		if le := cfg.LeaderElection; le != nil {
			// client-go's LeaseLock: Get, then Create or Update.
			add(ns, "coordination.k8s.io", "leases", "", "create")
			add(ns, "coordination.k8s.io", "leases", le.LeaseName, "get", "update")
		}
	}
	for _, p := range cfg.Policies {
		for _, s := range p.Sinks {
			if s.Type != config.SinkKubernetes || s.Kubeconfig != "" {
				continue
			}
			add(s.Namespace, "", "secrets", "", "get", "create", "update")
			for _, w := range s.Restart {
				add(s.Namespace, "apps", strings.ToLower(w.Kind)+"s", w.Name, "patch")
			}
		}
	}
	return need
}

// TestHARBAC checks rbac.yaml against the policy: Roles bound to
// rotatord's service account only, no wildcard, and exactly the rights the
// policy needs, no more (no Secret in rotatord's namespace).
func TestHARBAC(t *testing.T) {
	h := loadHA(t)
	sa := h.d.Spec.Template.Spec.ServiceAccountName
	roles := map[string]rbacRole{} // "namespace/name"
	bound := map[string]bool{}
	for _, k := range h.order {
		o := h.objects[k]
		switch o.Kind {
		case "Role":
			var r rbacRole
			if err := o.node.Decode(&r); err != nil {
				t.Fatalf("%s: %v", o.file, err)
			}
			roles[r.Metadata.Namespace+"/"+r.Metadata.Name] = r
		case "ClusterRole", "ClusterRoleBinding":
			t.Errorf("%s: %s: rotatord needs no cluster-wide right", o.file, k)
		}
	}
	for _, k := range h.order {
		o := h.objects[k]
		if o.Kind != "RoleBinding" {
			continue
		}
		var b rbacBinding
		if err := o.node.Decode(&b); err != nil {
			t.Fatalf("%s: %v", o.file, err)
		}
		ref := b.Metadata.Namespace + "/" + b.RoleRef.Name
		if b.RoleRef.Kind != "Role" || b.RoleRef.APIGroup != "rbac.authorization.k8s.io" {
			t.Errorf("RoleBinding %s binds %s %s, want a Role", ref, b.RoleRef.APIGroup, b.RoleRef.Kind)
		} else if _, ok := roles[ref]; !ok {
			t.Errorf("RoleBinding %s/%s binds Role %s, which rbac.yaml does not define", b.Metadata.Namespace, b.Metadata.Name, ref)
		}
		bound[ref] = true
		if len(b.Subjects) != 1 || b.Subjects[0].Kind != "ServiceAccount" || b.Subjects[0].Name != sa || b.Subjects[0].Namespace != h.namespace {
			t.Errorf("RoleBinding %s/%s subjects %+v, want exactly ServiceAccount %s/%s", b.Metadata.Namespace, b.Metadata.Name, b.Subjects, h.namespace, sa)
		}
	}
	granted := map[perm]bool{}
	for ref, r := range roles {
		if !bound[ref] {
			t.Errorf("Role %s is bound to nobody", ref)
		}
		for _, rule := range r.Rules {
			for _, list := range [][]string{rule.APIGroups, rule.Resources, rule.Verbs, rule.ResourceNames} {
				if slices.Contains(list, "*") {
					t.Errorf("Role %s: a wildcard in %+v", ref, rule)
				}
			}
			names := rule.ResourceNames
			if len(names) == 0 {
				names = []string{""}
			}
			for _, g := range rule.APIGroups {
				for _, res := range rule.Resources {
					for _, v := range rule.Verbs {
						for _, n := range names {
							granted[perm{r.Metadata.Namespace, g, res, v, n}] = true
						}
					}
				}
			}
		}
	}
	need := policyNeeds(h.cfg)
	for _, p := range sortedPerms(need) {
		if !granted[p] {
			t.Errorf("rbac.yaml does not allow %s, which the policy needs", p)
		}
	}
	for _, p := range sortedPerms(granted) {
		if !need[p] {
			t.Errorf("rbac.yaml allows %s, which the policy does not need", p)
		}
		if p.Resource == "secrets" && p.Namespace == h.namespace {
			t.Errorf("rbac.yaml allows %s: no Secret of rotatord's own namespace is a sink's", p)
		}
		if p.Verb == "create" && p.Name != "" {
			t.Errorf("rbac.yaml allows %s: a create cannot be limited to a name, the API server refuses it", p)
		}
	}
}

// render returns the objects `kubectl kustomize` makes of a directory:
// its resources in order, with the kustomization's namespace set on every
// namespaced object and its images substituted. TestKustomizeRender checks
// it against kubectl when kubectl is installed.
func render(t *testing.T, c *cluster) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, k := range c.order {
		o := c.objects[k]
		var m map[string]any
		if err := o.node.Decode(&m); err != nil {
			t.Fatalf("%s: %v", o.file, err)
		}
		u := toUnstructured(t, m, o.file)
		if c.kust.Namespace != "" && !slices.Contains(clusterScoped, u.GetKind()) {
			u.SetNamespace(c.kust.Namespace)
		}
		for _, field := range []string{"containers", "initContainers"} {
			path := []string{"spec", "template", "spec", field}
			ctrs, _, _ := unstructured.NestedSlice(u.Object, path...)
			for _, ctr := range ctrs {
				ctr := ctr.(map[string]any)
				for _, img := range c.kust.Images {
					if name, _, _ := strings.Cut(fmt.Sprint(ctr["image"]), ":"); name == img.Name {
						ref := img.NewName
						if ref == "" {
							ref = img.Name
						}
						if img.NewTag != "" {
							ref += ":" + img.NewTag
						}
						ctr["image"] = ref
					}
				}
			}
			if ctrs != nil {
				if err := unstructured.SetNestedSlice(u.Object, ctrs, path...); err != nil {
					t.Fatal(err)
				}
			}
		}
		out = append(out, u)
	}
	return out
}

// toUnstructured converts a decoded YAML document through JSON, as
// kubectl does, so that numbers are int64 and float64.
func toUnstructured(t *testing.T, m map[string]any, where string) *unstructured.Unstructured {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(b); err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	return u
}

func objectKey(u *unstructured.Unstructured) string {
	return u.GetKind() + "/" + u.GetNamespace() + "/" + u.GetName()
}

// TestKustomizeRender checks render against `kubectl kustomize` for both
// variants, when kubectl is installed: the objects the live tests apply
// are those kubectl would.
func TestKustomizeRender(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("no kubectl: the kustomize render is not compared")
	}
	for _, dir := range []string{k8sDir, k8sHADir} {
		out, err := exec.Command(kubectl, "kustomize", dir).Output()
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				err = fmt.Errorf("%v: %s", err, ee.Stderr)
			}
			t.Errorf("kubectl kustomize %s: %v", dir, err)
			continue
		}
		docs, err := yamlDocs(out)
		if err != nil {
			t.Fatalf("kubectl kustomize %s: %v", dir, err)
		}
		want := map[string]*unstructured.Unstructured{}
		for _, d := range docs {
			var m map[string]any
			if err := d.Decode(&m); err != nil {
				t.Fatal(err)
			}
			u := toUnstructured(t, m, "kubectl kustomize "+dir)
			want[objectKey(u)] = u
		}
		got := render(t, loadCluster(t, dir))
		if len(got) != len(want) {
			t.Errorf("%s: render makes %d objects, kubectl kustomize %d", dir, len(got), len(want))
		}
		for _, u := range got {
			w, ok := want[objectKey(u)]
			if !ok {
				t.Errorf("%s: %s is not in kubectl kustomize's output", dir, objectKey(u))
			} else if d := firstDiff(u.Object, w.Object, ""); d != "" {
				t.Errorf("%s: %s differs from kubectl kustomize's at %s", dir, objectKey(u), d)
			}
		}
	}
}

// firstDiff describes the first place where a and b differ, or is empty.
func firstDiff(a, b any, path string) string {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		for _, k := range slices.Sorted(maps.Keys(am)) {
			if _, ok := bm[k]; !ok {
				return path + "." + k + " (not in kubectl's)"
			}
			if d := firstDiff(am[k], bm[k], path+"."+k); d != "" {
				return d
			}
		}
		for k := range bm {
			if _, ok := am[k]; !ok {
				return path + "." + k + " (only in kubectl's)"
			}
		}
		return ""
	}
	as, aok := a.([]any)
	bs, bok := b.([]any)
	if aok && bok && len(as) == len(bs) {
		for i := range as {
			if d := firstDiff(as[i], bs[i], fmt.Sprintf("%s[%d]", path, i)); d != "" {
				return d
			}
		}
		return ""
	}
	if !reflect.DeepEqual(a, b) {
		return fmt.Sprintf("%s: %v, kubectl's %v", path, a, b)
	}
	return ""
}

// warnings records the warnings the API server sends (Pod Security
// admission warns about a pod template the namespace's level forbids).
type warnings struct {
	mu   sync.Mutex
	list []string
}

func (w *warnings) HandleWarningHeader(code int, agent, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, text)
}

func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.list
	w.list = nil
	return out
}

// applied is a variant created in a real API server.
type applied struct {
	kc    *kubetest.Cluster
	admin kubernetes.Interface
	ctx   context.Context
}

// apply creates every object of the rendered directory in a real API
// server as the admin, with strict field validation (an unknown or
// misspelt field is an error), but the Prometheus Operator's kinds. Extra
// namespaces (the applications' a sink writes to) are created first, like
// the manifests' Namespaces. For each Deployment, a Pod of its template is
// created with a server-side dry run, which Pod Security admission must
// let through at the namespace's level; any warning fails the test.
func apply(t *testing.T, c *cluster, extraNamespaces ...string) *applied {
	t.Helper()
	kc := kubetest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	for _, ns := range extraNamespaces {
		kc.CreateNamespace(t, ns)
	}
	w := &warnings{}
	cfg := kc.RestConfig(kubetest.Admin)
	cfg.WarningHandler = w
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	groups, err := restmapper.GetAPIGroupResources(dc)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDiscoveryRESTMapper(groups)
	admin, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}

	objs := render(t, c)
	// Namespaces first, then ServiceAccounts (a Pod names one), then the
	// rest in the kustomization's order.
	rank := func(u *unstructured.Unstructured) int {
		switch u.GetKind() {
		case "Namespace":
			return 0
		case "ServiceAccount":
			return 1
		}
		return 2
	}
	slices.SortStableFunc(objs, func(a, b *unstructured.Unstructured) int { return rank(a) - rank(b) })
	created := 0
	for _, u := range objs {
		if slices.Contains(crdKinds, u.GetKind()) {
			continue
		}
		gvk := u.GroupVersionKind()
		mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			t.Errorf("%s %s: %v", gvk, u.GetName(), err)
			continue
		}
		ri := dynamic.ResourceInterface(dyn.Resource(mapping.Resource))
		if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
			if u.GetNamespace() == "" {
				t.Errorf("%s: no namespace after rendering %s", objectKey(u), c.dir)
				continue
			}
			ri = dyn.Resource(mapping.Resource).Namespace(u.GetNamespace())
		}
		if _, err := ri.Create(ctx, u, metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict}); err != nil {
			t.Errorf("create %s from %s: %v", objectKey(u), c.dir, err)
			continue
		}
		created++
		if ws := w.take(); len(ws) > 0 {
			t.Errorf("create %s: warnings %q", objectKey(u), ws)
		}
		if u.GetKind() == "Deployment" {
			dryRunPod(t, ctx, admin, u)
			if ws := w.take(); len(ws) > 0 {
				t.Errorf("pod of %s: warnings %q", objectKey(u), ws)
			}
		}
	}
	t.Logf("%s: %d objects created in a real API server", c.dir, created)
	return &applied{kc: kc, admin: admin, ctx: ctx}
}

// dryRunPod creates, with a server-side dry run, a Pod of a Deployment's
// template in its namespace.
func dryRunPod(t *testing.T, ctx context.Context, admin kubernetes.Interface, u *unstructured.Unstructured) {
	t.Helper()
	var d appsv1.Deployment
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &d); err != nil {
		t.Fatalf("%s: %v", objectKey(u), err)
	}
	pod := &corev1.Pod{ObjectMeta: d.Spec.Template.ObjectMeta, Spec: d.Spec.Template.Spec}
	pod.Name, pod.Namespace = d.Name+"-dry-run", d.Namespace
	opts := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}, FieldValidation: metav1.FieldValidationStrict}
	if _, err := admin.CoreV1().Pods(d.Namespace).Create(ctx, pod, opts); err != nil {
		t.Errorf("a Pod of %s's template: %v", objectKey(u), err)
	}
	// The same Pod running as root must be refused: Pod Security admission
	// is on, and the check above means something.
	bad := pod.DeepCopy()
	root := int64(0)
	if bad.Spec.SecurityContext == nil {
		bad.Spec.SecurityContext = &corev1.PodSecurityContext{}
	}
	bad.Spec.SecurityContext.RunAsUser = &root
	for i := range bad.Spec.Containers {
		if bad.Spec.Containers[i].SecurityContext == nil {
			bad.Spec.Containers[i].SecurityContext = &corev1.SecurityContext{}
		}
		bad.Spec.Containers[i].SecurityContext.RunAsUser = &root
	}
	if _, err := admin.CoreV1().Pods(d.Namespace).Create(ctx, bad, opts); !apierrors.IsForbidden(err) {
		t.Errorf("a Pod of %s's template running as root: %v, want forbidden by Pod Security admission", objectKey(u), err)
	}
}

// serviceAccountClient returns a client that authenticates with a token
// of the service account, as a pod's mounted token does (audience: the API
// server).
func (a *applied) serviceAccountClient(t *testing.T, namespace, name string) kubernetes.Interface {
	t.Helper()
	return a.tokenClient(t, a.token(t, namespace, name, nil))
}

// tokenClient returns a client that authenticates with a bearer token.
func (a *applied) tokenClient(t *testing.T, token string) kubernetes.Interface {
	t.Helper()
	base := a.kc.RestConfig(kubetest.Admin)
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: base.Host, BearerToken: token, TLSClientConfig: base.TLSClientConfig})
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func (a *applied) token(t *testing.T, namespace, name string, audiences []string) string {
	t.Helper()
	ttl := int64(600)
	tr, err := a.admin.CoreV1().ServiceAccounts(namespace).CreateToken(a.ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{Audiences: audiences, ExpirationSeconds: &ttl},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token of service account %s/%s: %v", namespace, name, err)
	}
	return tr.Status.Token
}

// selfRules is what SelfSubjectRulesReview says cs may do in namespace.
func selfRules(t *testing.T, ctx context.Context, cs kubernetes.Interface, namespace string) map[perm]bool {
	t.Helper()
	res, err := cs.AuthorizationV1().SelfSubjectRulesReviews().Create(ctx, &authorizationv1.SelfSubjectRulesReview{
		Spec: authorizationv1.SelfSubjectRulesReviewSpec{Namespace: namespace},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("rules review in %s: %v", namespace, err)
	}
	if res.Status.Incomplete {
		t.Fatalf("rules review in %s is incomplete: %s", namespace, res.Status.EvaluationError)
	}
	out := map[perm]bool{}
	for _, r := range res.Status.ResourceRules {
		names := r.ResourceNames
		if len(names) == 0 {
			names = []string{""}
		}
		for _, g := range r.APIGroups {
			for _, resource := range r.Resources {
				for _, v := range r.Verbs {
					for _, n := range names {
						out[perm{namespace, g, resource, v, n}] = true
					}
				}
			}
		}
	}
	return out
}

// extraRules is what cs may do in namespace beyond what every service
// account may by default (system:basic-user's self reviews, the
// ClusterTrustBundles of system:cluster-trust-bundle-discovery, whatever
// else the server's version gives everyone): what a service account of
// the same namespace that no manifest names may do.
func (a *applied) extraRules(t *testing.T, cs kubernetes.Interface, saNamespace, namespace string) map[perm]bool {
	t.Helper()
	const baseline = "deploy-test-baseline"
	_, err := a.admin.CoreV1().ServiceAccounts(saNamespace).Create(a.ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: baseline}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	nobody := a.serviceAccountClient(t, saNamespace, baseline)
	rules := selfRules(t, a.ctx, cs, namespace)
	for p := range selfRules(t, a.ctx, nobody, namespace) {
		delete(rules, p)
	}
	return rules
}

// can asks the API server whether cs may do p (a Resource of
// "resource/subresource" names a subresource).
func can(t *testing.T, ctx context.Context, cs kubernetes.Interface, p perm) bool {
	t.Helper()
	resource, sub, _ := strings.Cut(p.Resource, "/")
	res, err := cs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
		Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: p.Namespace, Group: p.Group, Resource: resource, Subresource: sub, Verb: p.Verb, Name: p.Name,
		}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("access review of %s: %v", p, err)
	}
	return res.Status.Allowed
}

func wantForbidden(t *testing.T, what string, err error) {
	t.Helper()
	if !apierrors.IsForbidden(err) {
		t.Errorf("%s: %v, want forbidden", what, err)
	}
}

// TestKubernetesAPIServer applies the single-replica variant to a real API
// server and checks that its service account may do nothing: rotatord
// calls no Kubernetes API there, and the only token its pod mounts (for
// Vault, audience vault) is refused by the API server.
func TestKubernetesAPIServer(t *testing.T) {
	t.Parallel()
	c := loadCluster(t, k8sDir)
	a := apply(t, c)
	var d deployment
	c.get(t, "Deployment", "rotatord", &d)
	ns, sa := c.kust.Namespace, d.Spec.Template.Spec.ServiceAccountName

	cs := a.serviceAccountClient(t, ns, sa)
	for _, n := range []string{ns, "default", "kube-system"} {
		if rules := a.extraRules(t, cs, ns, n); len(rules) > 0 {
			t.Errorf("service account %s/%s may %v in %s: it needs no right", ns, sa, sortedPerms(rules), n)
		}
	}
	_, err := cs.CoreV1().Secrets(ns).List(a.ctx, metav1.ListOptions{})
	wantForbidden(t, "list secrets in "+ns, err)

	vault := a.tokenClient(t, a.token(t, ns, sa, []string{"vault"}))
	if _, err := vault.CoreV1().Secrets(ns).List(a.ctx, metav1.ListOptions{}); !apierrors.IsUnauthorized(err) {
		t.Errorf("the Vault token (audience vault) against the API server: %v, want unauthorized", err)
	}
}

// TestKubernetesHAAPIServer applies the HA variant to a real API server
// and proves its RBAC enough and least, as rotatord's service account with
// a token like the one its pod mounts: SelfSubjectRulesReview lists exactly
// what the policy needs in every namespace concerned; rotatord's own code
// takes and renews the Lease, writes, lists and deletes journal
// records, and delivers to the Secret sink with its restart; and reading
// Secrets anywhere else, or restarting another workload, is forbidden.
func TestKubernetesHAAPIServer(t *testing.T) {
	t.Parallel()
	h := loadHA(t)
	cfg := h.cfg
	need := policyNeeds(cfg)
	namespaces := map[string]bool{}
	for p := range need {
		namespaces[p.Namespace] = true
	}
	var extra []string
	for ns := range namespaces {
		if ns != h.namespace {
			extra = append(extra, ns)
		}
	}
	sort.Strings(extra)
	a := apply(t, h.cluster, extra...)
	ctx := a.ctx
	sa := h.d.Spec.Template.Spec.ServiceAccountName

	// The workloads the sinks restart, as the applications would have them.
	type sinkAt struct {
		policy string
		sink   *config.Sink
	}
	var k8sSinks []sinkAt
	for _, p := range cfg.Policies {
		for i := range p.Sinks {
			s := &p.Sinks[i]
			if s.Type != config.SinkKubernetes {
				continue
			}
			k8sSinks = append(k8sSinks, sinkAt{p.Name, s})
			for _, w := range s.Restart {
				if w.Kind != "Deployment" {
					t.Fatalf("restart of a %s: this test creates Deployments only", w.Kind)
				}
				createDeployment(t, ctx, a.admin, s.Namespace, w.Name)
			}
		}
	}

	cs := a.serviceAccountClient(t, h.namespace, sa)
	// RBAC reads Roles through an informer: wait until it grants them.
	deadline := time.Now().Add(30 * time.Second)
	for _, p := range sortedPerms(need) {
		for !can(t, ctx, cs, p) {
			if time.Now().After(deadline) {
				t.Fatalf("service account %s/%s may not %s, which the policy needs", h.namespace, sa, p)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	// Least: in each namespace concerned, and in two others, exactly the
	// rights the policy needs.
	for _, ns := range append(slices.Sorted(maps.Keys(namespaces)), "default", "kube-system") {
		got := a.extraRules(t, cs, h.namespace, ns)
		for _, p := range sortedPerms(got) {
			if !need[p] {
				t.Errorf("service account %s/%s may %s, which the policy does not need", h.namespace, sa, p)
			}
		}
		for _, p := range sortedPerms(need) {
			if p.Namespace == ns && !got[p] {
				t.Errorf("the rules review does not list %s", p)
			}
		}
	}

	t.Run("lease", func(t *testing.T) { haLease(t, ctx, a.admin, cs, cfg) })
	t.Run("journal", func(t *testing.T) { haJournal(t, ctx, a.admin, cs, cfg) })
	for i, s := range k8sSinks {
		t.Run(fmt.Sprintf("sink%d", i), func(t *testing.T) { haSink(t, ctx, a.admin, cs, s.policy, s.sink) })
	}

	// Forbidden: every Secret but the sinks', reading them in bulk,
	// deleting them, restarting other workloads, other Leases, granting
	// itself more.
	for _, ns := range []string{h.namespace, "default", "kube-system"} {
		_, err := cs.CoreV1().Secrets(ns).Get(ctx, "any", metav1.GetOptions{})
		wantForbidden(t, "get a secret in "+ns, err)
		_, err = cs.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
		wantForbidden(t, "list secrets in "+ns, err)
	}
	_, err := cs.CoreV1().Secrets("").List(ctx, metav1.ListOptions{})
	wantForbidden(t, "list secrets in every namespace", err)
	for _, s := range k8sSinks {
		ns := s.sink.Namespace
		_, err := cs.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
		wantForbidden(t, "list secrets in "+ns, err)
		err = cs.CoreV1().Secrets(ns).Delete(ctx, "any", metav1.DeleteOptions{})
		wantForbidden(t, "delete a secret in "+ns, err)
		_, err = cs.AppsV1().Deployments(ns).Patch(ctx, "not-restarted", types.StrategicMergePatchType, []byte(`{}`), metav1.PatchOptions{})
		wantForbidden(t, "patch another Deployment in "+ns, err)
		_, err = cs.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
		wantForbidden(t, "list configmaps in "+ns, err)
	}
	_, err = cs.CoordinationV1().Leases(h.namespace).Get(ctx, "another-lease", metav1.GetOptions{})
	wantForbidden(t, "get another Lease", err)
	_, err = cs.AppsV1().Deployments(h.namespace).Patch(ctx, "rotatord", types.StrategicMergePatchType, []byte(`{}`), metav1.PatchOptions{})
	wantForbidden(t, "patch its own Deployment", err)
	_, err = cs.RbacV1().Roles(h.namespace).List(ctx, metav1.ListOptions{})
	wantForbidden(t, "list roles", err)
	for _, p := range []perm{
		{h.namespace, "rbac.authorization.k8s.io", "roles", "create", ""},
		{h.namespace, "rbac.authorization.k8s.io", "rolebindings", "create", ""},
		{h.namespace, "", "serviceaccounts/token", "create", sa},
		{h.namespace, "", "pods", "create", ""},
		{h.namespace, "", "configmaps", "watch", ""},
	} {
		if can(t, ctx, cs, p) {
			t.Errorf("service account %s/%s may %s", h.namespace, sa, p)
		}
	}
}

func createDeployment(t *testing.T, ctx context.Context, admin kubernetes.Interface, namespace, name string) {
	t.Helper()
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: name, Image: "registry.example.com/" + name}}},
			},
		},
	}
	if _, err := admin.AppsV1().Deployments(namespace).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatalf("deployment %s/%s: %v", namespace, name, err)
	}
}

// haLease runs rotatord's leader election as the service account: it
// reads and creates the Lease, then renews it (an update). Whether the
// Lease is released on a clean stop is internal/leader's business, not
// RBAC's: a release is an update like a renewal.
func haLease(t *testing.T, ctx context.Context, admin, cs kubernetes.Interface, cfg *config.Config) {
	ns, name := cfg.State.Namespace, cfg.LeaderElection.LeaseName
	led := make(chan struct{})
	e := leader.New(leader.Config{
		Client: cs, Namespace: ns, LeaseName: name, Identity: "deploy-test",
		LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 300 * time.Millisecond,
		Logger: zap.NewNop(),
	})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- e.Run(runCtx, func(lead context.Context) {
			close(led)
			<-lead.Done()
		})
	}()
	var once sync.Once
	var runErr error
	finish := func() error {
		once.Do(func() { stop(); runErr = <-done })
		return runErr
	}
	defer finish()
	select {
	case <-led:
	case <-time.After(20 * time.Second):
		t.Fatalf("the service account did not take Lease %s/%s", ns, name)
	}
	first := leaseState(t, ctx, admin, ns, name)
	if first.holder != "deploy-test" {
		t.Fatalf("Lease holder %q, want deploy-test", first.holder)
	}
	for leaseState(t, ctx, admin, ns, name).renew.Equal(first.renew) {
		if !e.Leading() {
			t.Fatal("lost the Lease: a renewal was refused")
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			t.Fatal("the Lease was never renewed")
		}
	}
	if err := finish(); err != nil {
		t.Errorf("election: %v", err)
	}
}

type lease struct {
	holder string
	renew  time.Time
}

func leaseState(t *testing.T, ctx context.Context, admin kubernetes.Interface, ns, name string) lease {
	t.Helper()
	l, err := admin.CoordinationV1().Leases(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("Lease %s/%s: %v", ns, name, err)
	}
	var out lease
	if l.Spec.HolderIdentity != nil {
		out.holder = *l.Spec.HolderIdentity
	}
	if l.Spec.RenewTime != nil {
		out.renew = l.Spec.RenewTime.Time
	}
	return out
}

// haJournal writes, reloads and deletes a record of rotatord's journal as
// the service account, through the Kubernetes state backend.
func haJournal(t *testing.T, ctx context.Context, admin, cs kubernetes.Interface, cfg *config.Config) {
	ns := cfg.State.Namespace
	store, err := kubestate.Open(ctx, cs, ns, config.DefaultAccount, false)
	if err != nil {
		t.Fatalf("open the journal: %v", err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	rec := state.Record{Policy: "apps", Name: "app-web", CurrentKeyID: "EXO1", CurrentSince: now}
	if err := store.Put(rec); err != nil {
		t.Fatalf("create a record: %v", err)
	}
	rec.CurrentKeyID = "EXO2"
	if err := store.Put(rec); err != nil {
		t.Fatalf("update a record: %v", err)
	}
	if err := store.Reload(ctx); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if got, ok := store.Get("apps", "app-web"); !ok || got.CurrentKeyID != "EXO2" {
		t.Errorf("after reload: %+v, %v; want current key EXO2", got, ok)
	}
	cm, err := admin.CoreV1().ConfigMaps(ns).Get(ctx, kubestate.ObjectName(config.DefaultAccount, "apps", "app-web"), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cm.Labels[kubestate.ManagedByLabel] != kubestate.ManagedByValue || cm.Labels[kubestate.AccountLabel] != config.DefaultAccount {
		t.Errorf("journal ConfigMap labels %v", cm.Labels)
	}
	if err := store.Delete("apps", "app-web"); err != nil {
		t.Fatalf("delete a record: %v", err)
	}
	if _, err := admin.CoreV1().ConfigMaps(ns).Get(ctx, cm.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("after delete, the record's ConfigMap: %v", err)
	}
}

// haSink runs a Secret sink of the policy as the service account: the
// probe, a create, an update, the restarts; and a probe naming a workload
// rbac.yaml does not list fails.
func haSink(t *testing.T, ctx context.Context, admin, cs kubernetes.Interface, policy string, sc *config.Sink) {
	opts := k8ssink.Options{
		Client: cs, Namespace: sc.Namespace, Name: sc.NameTemplate(),
		Format: string(sc.Format), Key: sc.Key, Labels: sc.Labels, Annotations: sc.Annotations,
		TakeOver: sc.TakeOver, Policy: policy,
	}
	if sc.Keys != nil {
		opts.KeyField, opts.SecretField = sc.Keys.APIKey, sc.Keys.APISecret
	}
	for _, w := range sc.Restart {
		opts.Restart = append(opts.Restart, k8ssink.Workload{Kind: w.Kind, Name: w.Name})
	}
	s, err := k8ssink.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	const keyName = "app-web"
	for i, id := range []string{"EXOfirst", "EXOsecond"} { // a create, then an update
		if err := s.Probe(ctx, keyName); err != nil {
			t.Fatalf("probe: %v", err)
		}
		c := sinks.Credential{Name: keyName, KeyID: id, Secret: secret.Value("secret-" + id), CreatedAt: time.Now()}
		if err := s.Write(ctx, c); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		if err := s.Verify(ctx, c); err != nil {
			t.Errorf("verify %d: %v", i, err)
		}
	}
	_, name, _ := strings.Cut(s.Target(keyName), "/")
	sec, err := admin.CoreV1().Secrets(sc.Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sec.Annotations[k8ssink.KeyIDKey] != "EXOsecond" {
		t.Errorf("Secret %s/%s holds key %q, want EXOsecond", sc.Namespace, name, sec.Annotations[k8ssink.KeyIDKey])
	}
	for _, w := range sc.Restart {
		d, err := admin.AppsV1().Deployments(sc.Namespace).Get(ctx, w.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if d.Spec.Template.Annotations[k8ssink.RestartedAtKey] == "" {
			t.Errorf("Deployment %s/%s was not restarted", sc.Namespace, w.Name)
		}
	}

	opts.Restart = append(opts.Restart, k8ssink.Workload{Kind: "Deployment", Name: "not-restarted"})
	other, err := k8ssink.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Probe(ctx, keyName); err == nil || !strings.Contains(err.Error(), "RBAC does not allow patch") {
		t.Errorf("probe of a sink restarting a Deployment rbac.yaml does not list: %v, want an RBAC refusal", err)
	}
}
