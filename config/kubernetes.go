package config

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/rotatord/rotatord/internal/kubeclient"
)

// Workload kinds a Kubernetes sink may restart.
var restartKinds = []string{"Deployment", "StatefulSet", "DaemonSet"}

// Marks the Kubernetes sink sets itself; the config may not set them.
const (
	managedByLabel   = "app.kubernetes.io/managed-by"
	rotatordMarkBase = "rotatord.io/"
)

func (v *validator) kubernetesSink(at string, s *Sink, match string, glob bool, targets map[string]string) {
	if s.Namespace == "" {
		v.addf(at+".namespace", "required (the namespace of the Secret)")
	} else if errs := validation.IsDNS1123Label(s.Namespace); len(errs) > 0 {
		v.addf(at+".namespace", "%q is not a namespace name: %s", s.Namespace, strings.Join(errs, "; "))
	}
	if s.Name == "" {
		v.addf(at+".name", "required (the Secret's name, a template with {{.Name}})")
	} else if t := v.nameTemplate(at+".name", s.Name, match, glob, "Secret", "name"); t != nil {
		s.nameTmpl = t
		// The name of a Secret may hold no uppercase, no underscore: a
		// key whose name renders to an invalid one is refused when it is
		// rotated (its probe fails and no key is created), but a template
		// that can never render a valid name is refused here.
		if n, err := (&Sink{pathTmpl: t}).RenderPath(probeNameA); err == nil {
			if errs := validation.IsDNS1123Subdomain(n); len(errs) > 0 {
				v.addf(at+".name", "renders %q for key %q, not a valid Secret name: %s", n, probeNameA, strings.Join(errs, "; "))
			}
		}
		target := strings.Join([]string{"kubernetes", s.Kubeconfig, s.Context, s.Namespace, s.Name}, "\x00")
		if first, dup := targets[target]; dup {
			v.addf(at+".name", "same Secret as %s: the two sinks would overwrite each other", first)
		} else {
			targets[target] = at
		}
	}

	keys := v.keys(at)
	switch {
	case s.Key != "" && s.Keys != nil:
		v.addf(at+".keys", "set either keys (api_key and api_secret in two data keys) or key with format (one document), not both")
	case s.Key != "":
		if !keys["format"] {
			v.addf(at+".format", "required with key: %s, %s or %s", FormatEnv, FormatJSON, FormatExoscaleTOML)
		}
		v.dataKey(at+".key", s.Key)
	case keys["format"]:
		v.addf(at+".key", "required with format: the data key that holds the %s document", s.Format)
	}
	if keys["format"] {
		switch s.Format {
		case FormatEnv, FormatJSON, FormatExoscaleTOML:
		default:
			v.addf(at+".format", "%q (want %s, %s or %s for a Secret)", s.Format, FormatEnv, FormatJSON, FormatExoscaleTOML)
		}
	} else {
		s.Format = ""
	}
	if s.Keys != nil {
		k, sec := s.Keys.APIKey, s.Keys.APISecret
		if k == "" {
			k = "api_key"
		}
		if sec == "" {
			sec = "api_secret"
		}
		v.dataKey(at+".keys.api_key", k)
		v.dataKey(at+".keys.api_secret", sec)
		if k == sec {
			v.addf(at+".keys", "api_key and api_secret both go to data key %q", k)
		}
	}
	for _, k := range sortedKeys(s.Labels) {
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			v.addf(at+".labels", "label %q: %s", k, strings.Join(errs, "; "))
		} else if errs := validation.IsValidLabelValue(s.Labels[k]); len(errs) > 0 {
			v.addf(at+".labels", "label %q: value %q: %s", k, s.Labels[k], strings.Join(errs, "; "))
		} else if k == managedByLabel || strings.HasPrefix(k, rotatordMarkBase) {
			v.addf(at+".labels", "label %q is rotatord's own mark", k)
		}
	}
	for _, k := range sortedKeys(s.Annotations) {
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			v.addf(at+".annotations", "annotation %q: %s", k, strings.Join(errs, "; "))
		} else if strings.HasPrefix(k, rotatordMarkBase) {
			v.addf(at+".annotations", "annotation %q is rotatord's own mark", k)
		}
	}
	if s.Context != "" && s.Kubeconfig == "" {
		v.addf(at+".context", "only with kubeconfig (in a cluster there is no context to choose)")
	}
	s.Kubeconfig = v.abs(s.Kubeconfig)
	if v.host {
		v.kubeconfig(at+".kubeconfig", s.Kubeconfig, s.Context)
	}
	for i, w := range s.Restart {
		wat := fmt.Sprintf("%s.restart[%d]", at, i)
		if !slices.Contains(restartKinds, w.Kind) {
			v.addf(wat+".kind", "%q (want %s)", w.Kind, strings.Join(restartKinds, ", "))
		}
		if errs := validation.IsDNS1123Subdomain(w.Name); len(errs) > 0 {
			v.addf(wat+".name", "%q is not a workload name: %s", w.Name, strings.Join(errs, "; "))
		}
	}
}

func (v *validator) dataKey(at, k string) {
	if errs := validation.IsConfigMapKey(k); len(errs) > 0 {
		v.addf(at, "%q is not a Secret data key: %s", k, strings.Join(errs, "; "))
	}
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// kubeconfig checks, as `run` loads it, the kubeconfig at path: a regular
// file, read without blocking, that parses, whose context exists, and
// whose files for the connection (certificate-authority,
// client-certificate, client-key, tokenFile) are regular files. Without
// one, that this host has the in-cluster configuration (run refuses to
// start without it). It connects to nothing.
func (v *validator) kubeconfig(field, path, context string) {
	if path == "" {
		if err := kubeclient.CheckInCluster(v.getenv); err != nil {
			v.addf(field, "%v", err)
		}
		return
	}
	if _, err := kubeclient.FromKubeconfig(path, context); err != nil {
		v.addf(field, "%v", err)
	}
}
