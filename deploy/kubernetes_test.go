package deploy

import (
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/rotatord/rotatord/config"
)

const (
	k8sDir     = "kubernetes"
	uidNonRoot = 65532
)

type objectMeta struct {
	Name      string            `yaml:"name"`
	Namespace string            `yaml:"namespace"`
	Labels    map[string]string `yaml:"labels"`
}

// object is what every manifest has.
type object struct {
	APIVersion string     `yaml:"apiVersion"`
	Kind       string     `yaml:"kind"`
	Metadata   objectMeta `yaml:"metadata"`
	node       *yaml.Node
	file       string
}

// intOrString is a port given by number or by name.
type intOrString struct {
	Int int
	Str string
}

func (p *intOrString) UnmarshalYAML(n *yaml.Node) error {
	if n.Tag == "!!int" {
		return n.Decode(&p.Int)
	}
	return n.Decode(&p.Str)
}

type probe struct {
	HTTPGet *struct {
		Path string      `yaml:"path"`
		Port intOrString `yaml:"port"`
	} `yaml:"httpGet"`
}

type seccomp struct {
	Type string `yaml:"type"`
}

type volumeMount struct {
	Name      string `yaml:"name"`
	MountPath string `yaml:"mountPath"`
	ReadOnly  bool   `yaml:"readOnly"`
	SubPath   string `yaml:"subPath"`
}

type keyPath struct {
	Key  string `yaml:"key"`
	Path string `yaml:"path"`
}

type volume struct {
	Name      string `yaml:"name"`
	ConfigMap *struct {
		Name  string    `yaml:"name"`
		Items []keyPath `yaml:"items"`
	} `yaml:"configMap"`
	Secret *struct {
		SecretName  string    `yaml:"secretName"`
		Items       []keyPath `yaml:"items"`
		DefaultMode *int      `yaml:"defaultMode"`
	} `yaml:"secret"`
	PersistentVolumeClaim *struct {
		ClaimName string `yaml:"claimName"`
	} `yaml:"persistentVolumeClaim"`
	Projected *struct {
		Sources []projection `yaml:"sources"`
	} `yaml:"projected"`
}

type projection struct {
	ServiceAccountToken *struct {
		Audience string `yaml:"audience"`
		Path     string `yaml:"path"`
	} `yaml:"serviceAccountToken"`
}

type container struct {
	Name  string   `yaml:"name"`
	Image string   `yaml:"image"`
	Args  []string `yaml:"args"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	LivenessProbe  *probe `yaml:"livenessProbe"`
	ReadinessProbe *probe `yaml:"readinessProbe"`
	Resources      struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext struct {
		AllowPrivilegeEscalation *bool  `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   *bool  `yaml:"readOnlyRootFilesystem"`
		RunAsNonRoot             *bool  `yaml:"runAsNonRoot"`
		RunAsUser                *int64 `yaml:"runAsUser"`
		Capabilities             struct {
			Drop []string `yaml:"drop"`
			Add  []string `yaml:"add"`
		} `yaml:"capabilities"`
		SeccompProfile seccomp `yaml:"seccompProfile"`
	} `yaml:"securityContext"`
	VolumeMounts []volumeMount `yaml:"volumeMounts"`
}

type deployment struct {
	Spec struct {
		Replicas *int `yaml:"replicas"`
		Strategy struct {
			Type string `yaml:"type"`
		} `yaml:"strategy"`
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Template struct {
			Metadata objectMeta `yaml:"metadata"`
			Spec     struct {
				ServiceAccountName            string `yaml:"serviceAccountName"`
				AutomountServiceAccountToken  *bool  `yaml:"automountServiceAccountToken"`
				TerminationGracePeriodSeconds *int   `yaml:"terminationGracePeriodSeconds"`
				SecurityContext               struct {
					RunAsNonRoot        *bool   `yaml:"runAsNonRoot"`
					RunAsUser           *int64  `yaml:"runAsUser"`
					FSGroup             *int64  `yaml:"fsGroup"`
					FSGroupChangePolicy string  `yaml:"fsGroupChangePolicy"`
					SeccompProfile      seccomp `yaml:"seccompProfile"`
				} `yaml:"securityContext"`
				Containers []container `yaml:"containers"`
				Volumes    []volume    `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type service struct {
	Spec struct {
		Selector                 map[string]string `yaml:"selector"`
		PublishNotReadyAddresses bool              `yaml:"publishNotReadyAddresses"`
		Ports                    []struct {
			Name       string      `yaml:"name"`
			Port       int         `yaml:"port"`
			TargetPort intOrString `yaml:"targetPort"`
		} `yaml:"ports"`
	} `yaml:"spec"`
}

type serviceMonitor struct {
	Spec struct {
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Endpoints []struct {
			Port string `yaml:"port"`
			Path string `yaml:"path"`
		} `yaml:"endpoints"`
	} `yaml:"spec"`
}

type pvc struct {
	Spec struct {
		AccessModes []string `yaml:"accessModes"`
		Resources   struct {
			Requests map[string]string `yaml:"requests"`
		} `yaml:"resources"`
	} `yaml:"spec"`
}

type kustomization struct {
	Namespace string   `yaml:"namespace"`
	Resources []string `yaml:"resources"`
	Images    []struct {
		Name    string `yaml:"name"`
		NewName string `yaml:"newName"`
		NewTag  string `yaml:"newTag"`
	} `yaml:"images"`
}

// cluster is the manifests a directory's kustomization.yaml applies, by
// kind and name.
type cluster struct {
	dir     string
	kust    kustomization
	objects map[string]object // "Kind/name"
	order   []string          // the keys of objects, in the order applied
}

func (c *cluster) get(t *testing.T, kind, name string, v any) object {
	t.Helper()
	o, ok := c.objects[kind+"/"+name]
	if !ok {
		t.Fatalf("no %s %q among the resources of %s/kustomization.yaml", kind, name, c.dir)
	}
	if v != nil {
		if err := o.node.Decode(v); err != nil {
			t.Fatalf("%s: %s %s: %v", o.file, kind, name, err)
		}
	}
	return o
}

// loadCluster reads the kustomization.yaml of dir and the manifests it
// lists.
func loadCluster(t *testing.T, dir string) *cluster {
	t.Helper()
	c := &cluster{dir: dir, objects: map[string]object{}}
	decodeYAML(t, filepath.Join(dir, "kustomization.yaml"), &c.kust)
	for _, r := range c.kust.Resources {
		file := filepath.Join(dir, r)
		docs, err := yamlDocs(readFile(t, file))
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for _, d := range docs {
			var o object
			if err := d.Decode(&o); err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			if o.APIVersion == "" || o.Kind == "" || o.Metadata.Name == "" {
				t.Errorf("%s: a document without apiVersion, kind or metadata.name", file)
			}
			o.node, o.file = d, file
			key := o.Kind + "/" + o.Metadata.Name
			if _, dup := c.objects[key]; dup {
				t.Errorf("%s: %s defined twice", file, key)
			}
			c.objects[key] = o
			c.order = append(c.order, key)
		}
	}
	return c
}

// TestKustomization checks that kustomization.yaml applies every manifest
// of the directory, and no Secret.
func TestKustomization(t *testing.T) {
	c := loadCluster(t, k8sDir)
	if c.kust.Namespace == "" {
		t.Error("kustomization.yaml sets no namespace")
	}
	entries, err := os.ReadDir(k8sDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || name == "kustomization.yaml" || !strings.HasSuffix(name, ".yaml") {
			continue
		}
		if !slices.Contains(c.kust.Resources, name) {
			t.Errorf("%s is not listed in kustomization.yaml", name)
		}
	}
	for _, kind := range []string{"Namespace", "ServiceAccount", "ConfigMap", "PersistentVolumeClaim", "Deployment", "Service", "ServiceMonitor", "PrometheusRule"} {
		if !slices.ContainsFunc(slices.Collect(maps.Keys(c.objects)), func(k string) bool { return strings.HasPrefix(k, kind+"/") }) {
			t.Errorf("no %s among the resources", kind)
		}
	}
	for k := range c.objects {
		if strings.HasPrefix(k, "Secret/") {
			t.Errorf("%s is applied by kustomization.yaml: rotatord's credential lives in Vault here (in a Secret the operator creates, in %s)", k, k8sSecretDir)
		}
	}
}

func TestDeployment(t *testing.T) {
	c := loadCluster(t, k8sDir)
	var d deployment
	c.get(t, "Deployment", "rotatord", &d)
	spec := d.Spec.Template.Spec

	if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
		t.Errorf("replicas %v, want exactly 1: only one rotatord may act on an organization", d.Spec.Replicas)
	}
	if d.Spec.Strategy.Type != "Recreate" {
		t.Errorf("strategy %q, want Recreate: a rolling update runs two rotatords", d.Spec.Strategy.Type)
	}
	if a := spec.AutomountServiceAccountToken; a == nil || *a {
		t.Error("automountServiceAccountToken is not false: rotatord calls no Kubernetes API")
	}
	psc := spec.SecurityContext
	if psc.FSGroup == nil || *psc.FSGroup != uidNonRoot {
		t.Errorf("pod securityContext: fsGroup %v, want %d (write access to the state volume)", psc.FSGroup, uidNonRoot)
	}
	if psc.FSGroupChangePolicy != "OnRootMismatch" {
		t.Errorf("fsGroupChangePolicy %q, want OnRootMismatch: the default makes the state directory group-writable at every mount, and rotatord refuses it", psc.FSGroupChangePolicy)
	}
	checkHardenedPod(t, c, d)
}

// checkHardenedPod checks what every variant's Deployment shares: its
// selector, its stop timeout, its service account, one container as
// non-root 65532 with a read-only root file system, no capabilities, no
// privilege escalation and the RuntimeDefault seccomp profile, resources,
// the kustomization's image, and the probes on the metrics port.
func checkHardenedPod(t *testing.T, c *cluster, d deployment) {
	t.Helper()
	spec := d.Spec.Template.Spec
	if !subset(d.Spec.Selector.MatchLabels, d.Spec.Template.Metadata.Labels) || len(d.Spec.Selector.MatchLabels) == 0 {
		t.Errorf("selector %v does not select the pod labels %v", d.Spec.Selector.MatchLabels, d.Spec.Template.Metadata.Labels)
	}
	if g := spec.TerminationGracePeriodSeconds; g == nil || *g <= int(stopTimeout.Seconds()) {
		t.Errorf("terminationGracePeriodSeconds %v, want more than %s", g, stopTimeout)
	}
	c.get(t, "ServiceAccount", spec.ServiceAccountName, nil)

	psc := spec.SecurityContext
	if !isTrue(psc.RunAsNonRoot) || psc.RunAsUser == nil || *psc.RunAsUser != uidNonRoot {
		t.Errorf("pod securityContext: runAsNonRoot %v, runAsUser %v; want true, %d", psc.RunAsNonRoot, psc.RunAsUser, uidNonRoot)
	}
	if psc.SeccompProfile.Type != "RuntimeDefault" {
		t.Errorf("pod seccompProfile %q, want RuntimeDefault", psc.SeccompProfile.Type)
	}

	if len(spec.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(spec.Containers))
	}
	ctr := spec.Containers[0]
	sc := ctr.SecurityContext
	if !isTrue(sc.ReadOnlyRootFilesystem) {
		t.Error("container readOnlyRootFilesystem is not true")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("container allowPrivilegeEscalation is not false")
	}
	if !isTrue(sc.RunAsNonRoot) {
		t.Error("container runAsNonRoot is not true")
	}
	if !slices.Equal(sc.Capabilities.Drop, []string{"ALL"}) || len(sc.Capabilities.Add) > 0 {
		t.Errorf("capabilities drop %v add %v, want drop [ALL] and no add", sc.Capabilities.Drop, sc.Capabilities.Add)
	}
	if sc.SeccompProfile.Type != "RuntimeDefault" {
		t.Errorf("container seccompProfile %q, want RuntimeDefault", sc.SeccompProfile.Type)
	}
	for _, r := range []string{"cpu", "memory"} {
		if ctr.Resources.Requests[r] == "" {
			t.Errorf("no %s request", r)
		}
	}
	if ctr.Resources.Limits["memory"] == "" {
		t.Error("no memory limit")
	}
	if len(c.kust.Images) != 1 || c.kust.Images[0].Name != ctr.Image {
		t.Errorf("image %q is not the one kustomization.yaml sets (%v)", ctr.Image, c.kust.Images)
	}

	port := containerPortNum(t, ctr, intOrString{Str: "metrics"})
	for _, p := range []struct {
		name  string
		probe *probe
		path  string
	}{{"liveness", ctr.LivenessProbe, "/healthz"}, {"readiness", ctr.ReadinessProbe, "/readyz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("no HTTP %s probe", p.name)
			continue
		}
		if p.probe.HTTPGet.Path != p.path {
			t.Errorf("%s probe path %q, want %s", p.name, p.probe.HTTPGet.Path, p.path)
		}
		if got := containerPortNum(t, ctr, p.probe.HTTPGet.Port); got != port || port != 9108 {
			t.Errorf("%s probe port %d, want the metrics port 9108 (container port %d)", p.name, got, port)
		}
	}
}

// TestPolicyInCluster parses the ConfigMap's policy file with rotatord's
// parser and checks it against the Deployment: --config.file names it, each
// file it names is on the right volume, state_dir is on the claim, and
// listen is the port the probes and the Service use.
func TestPolicyInCluster(t *testing.T) {
	c := loadCluster(t, k8sDir)
	var d deployment
	c.get(t, "Deployment", "rotatord", &d)
	cfg, mountOf := podPolicy(t, c, d)
	checkCredentialAndSinks(t, cfg, mountOf, true)

	// The state: inside the claim, on a writable mount.
	m, v, _, ok := mountOf(cfg.StateDir)
	if !ok || v.PersistentVolumeClaim == nil || m.ReadOnly || m.SubPath != "" {
		t.Errorf("state_dir %s is not on a writable PersistentVolumeClaim mount (mount %+v)", cfg.StateDir, m)
	} else {
		var claim pvc
		c.get(t, "PersistentVolumeClaim", v.PersistentVolumeClaim.ClaimName, &claim)
		if !slices.Equal(claim.Spec.AccessModes, []string{"ReadWriteOnce"}) || claim.Spec.Resources.Requests["storage"] == "" {
			t.Errorf("claim %s: access modes %v, storage %q; want ReadWriteOnce and a size", v.PersistentVolumeClaim.ClaimName, claim.Spec.AccessModes, claim.Spec.Resources.Requests["storage"])
		}
		if cfg.StateDir == m.MountPath {
			t.Errorf("state_dir %s is the volume root, which fsGroup makes group-writable: use a directory inside it", cfg.StateDir)
		}
	}

	checkNetwork(t, c, d, cfg)
}

// mountFunc returns the mount and volume a path in the container is on,
// and the path relative to the mount.
type mountFunc func(p string) (volumeMount, volume, string, bool)

// podPolicy returns the policy file the Deployment's container runs with,
// parsed by rotatord's parser (checking that --config.file is a key of a
// mounted ConfigMap), and the container's mountFunc.
func podPolicy(t *testing.T, c *cluster, d deployment) (*config.Config, mountFunc) {
	t.Helper()
	spec := d.Spec.Template.Spec
	ctr := spec.Containers[0]
	volumes := map[string]volume{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = v
	}
	mountOf := func(p string) (volumeMount, volume, string, bool) {
		var best volumeMount
		for _, m := range ctr.VolumeMounts {
			if within(p, m.MountPath) && len(m.MountPath) > len(best.MountPath) {
				best = m
			}
		}
		if best.Name == "" {
			return best, volume{}, "", false
		}
		rel, _ := filepath.Rel(best.MountPath, p)
		return best, volumes[best.Name], rel, true
	}

	configPath := fieldAfter(strings.Join(ctr.Args, " "), "--config.file")
	// --web.enable-lifecycle: the configmap's comment reloads over HTTP.
	if !slices.Equal(ctr.Args, strings.Fields("run --config.file "+configPath+" --web.enable-lifecycle")) {
		t.Errorf("args %q, want run --config.file FILE --web.enable-lifecycle", ctr.Args)
	}
	m, v, key, ok := mountOf(configPath)
	if !ok || v.ConfigMap == nil {
		t.Fatalf("--config.file %s is not on a ConfigMap volume", configPath)
	}
	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	c.get(t, "ConfigMap", v.ConfigMap.Name, &cm)
	text, ok := cm.Data[key]
	if !ok {
		t.Fatalf("ConfigMap %s has no key %q (mounted at %s, --config.file %s)", v.ConfigMap.Name, key, m.MountPath, configPath)
	}
	return parsePolicy(t, []byte(text), "ConfigMap "+v.ConfigMap.Name+" "+key), mountOf
}

// checkCredentialAndSinks checks, with inVault, that rotatord's
// credential is in Vault, read with a projected service account token,
// and rotated (the Secret-credential variant checks its own); and that
// the Vault sinks log in with a projected token too and the file sinks
// write to a writable volume.
func checkCredentialAndSinks(t *testing.T, cfg *config.Config, mountOf mountFunc, inVault bool) {
	t.Helper()
	// The credential: in Vault, read with the projected service account
	// token (no long-lived secret in the pod), and rotated (own_key).
	if inVault {
		if cv := cfg.Exoscale.CredentialVault; cfg.Exoscale.CredentialFrom != config.CredentialFromVault || cv == nil || cfg.Exoscale.OwnKey == nil {
			t.Errorf("exoscale: credential_from %q, own_key %v: want the credential in Vault and own_key", cfg.Exoscale.CredentialFrom, cfg.Exoscale.OwnKey)
		} else if _, v, _, ok := mountOf(cv.Auth.ServiceAccountTokenFile); !ok || v.Projected == nil {
			t.Errorf("exoscale.credential_vault.auth.service_account_token_file %q is not on a projected service account token volume", cv.Auth.ServiceAccountTokenFile)
		}
	}

	// The sinks: Vault tokens from a projected service account token, file
	// sinks on a writable volume.
	for _, p := range cfg.Policies {
		for i, s := range p.Sinks {
			switch s.Type {
			case config.SinkVault:
				if s.Auth.Method != config.AuthKubernetes {
					continue
				}
				_, v, rel, ok := mountOf(s.Auth.ServiceAccountTokenFile)
				if !ok || v.Projected == nil || !slices.ContainsFunc(v.Projected.Sources, func(src projection) bool {
					return src.ServiceAccountToken != nil && src.ServiceAccountToken.Path == rel && src.ServiceAccountToken.Audience != ""
				}) {
					t.Errorf("policy %s sink %d: service_account_token_file %q is not a projected token with an audience", p.Name, i, s.Auth.ServiceAccountTokenFile)
				}
			case config.SinkFile:
				target, err := s.RenderPath("some-key")
				if err != nil {
					t.Fatal(err)
				}
				if m, _, _, ok := mountOf(filepath.Dir(target)); !ok || m.ReadOnly {
					t.Errorf("policy %s sink %d writes %s, which is not on a writable volume", p.Name, i, target)
				}
			}
		}
	}
}

// checkNetwork checks that rotatord listens on every address, at the
// container's port, which the Service and the ServiceMonitor use.
func checkNetwork(t *testing.T, c *cluster, d deployment, cfg *config.Config) {
	t.Helper()
	ctr := d.Spec.Template.Spec.Containers[0]
	host, portText, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		t.Fatal(err)
	}
	listenPort, _ := strconv.Atoi(portText)
	if host != "" && host != "0.0.0.0" && host != "::" {
		t.Errorf("listen %q: the probes and Prometheus need every address (\":%d\")", cfg.Listen, listenPort)
	}
	var svc service
	c.get(t, "Service", "rotatord", &svc)
	if !subset(svc.Spec.Selector, d.Spec.Template.Metadata.Labels) || len(svc.Spec.Selector) == 0 {
		t.Errorf("Service selector %v does not select the pod labels %v", svc.Spec.Selector, d.Spec.Template.Metadata.Labels)
	}
	if !svc.Spec.PublishNotReadyAddresses {
		t.Error("Service publishNotReadyAddresses is false: Prometheus would lose rotatord exactly while the API fails")
	}
	if len(svc.Spec.Ports) != 1 {
		t.Fatalf("Service: %d ports, want 1", len(svc.Spec.Ports))
	}
	sp := svc.Spec.Ports[0]
	if got := containerPortNum(t, ctr, sp.TargetPort); got != listenPort {
		t.Errorf("Service targetPort %v is container port %d, but rotatord listens on %d", sp.TargetPort, got, listenPort)
	}
	if sp.Port != listenPort {
		t.Errorf("Service port %d, want %d like rotatord's", sp.Port, listenPort)
	}
	var sm serviceMonitor
	svcObj := c.get(t, "Service", "rotatord", nil)
	c.get(t, "ServiceMonitor", "rotatord", &sm)
	if !subset(sm.Spec.Selector.MatchLabels, svcObj.Metadata.Labels) || len(sm.Spec.Selector.MatchLabels) == 0 {
		t.Errorf("ServiceMonitor selector %v does not select the Service labels %v", sm.Spec.Selector.MatchLabels, svcObj.Metadata.Labels)
	}
	if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != sp.Name || sm.Spec.Endpoints[0].Path != "/metrics" {
		t.Errorf("ServiceMonitor endpoints %+v, want port %q path /metrics", sm.Spec.Endpoints, sp.Name)
	}
}

func containerPortNum(t *testing.T, c container, p intOrString) int {
	t.Helper()
	if p.Str == "" {
		return p.Int
	}
	for _, cp := range c.Ports {
		if cp.Name == p.Str {
			return cp.ContainerPort
		}
	}
	t.Errorf("container %s has no port named %q", c.Name, p.Str)
	return 0
}

func subset(sub, set map[string]string) bool {
	for k, v := range sub {
		if set[k] != v {
			return false
		}
	}
	return true
}

func isTrue(b *bool) bool { return b != nil && *b }
