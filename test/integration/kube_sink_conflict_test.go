package integration

// Issue #15 asks the Secret sink end to end with `rotatord once` to cover a
// conflict: every write is an update against the resourceVersion it read,
// and a concurrent change is a conflict, never overwritten. Here someone
// else writes the Secret between rotatord's read and its update (a proxy
// in front of the real kube-apiserver makes the change just before it
// forwards rotatord's update), and the real binary must neither overwrite
// that change nor leave a key alive that no sink holds.

import (
	"encoding/base64"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rotatord/rotatord/internal/kubetest"
)

// conflictProxy forwards to the API server; once armed, before it forwards
// the first real (not dry-run) update of Secret name it calls change.
type conflictProxy struct {
	URL    string
	CAData []byte // PEM of the proxy's certificate

	mu     sync.Mutex
	armed  bool
	name   string
	change func()
	fired  int
}

func startConflictProxy(t *testing.T, c *kubetest.Cluster) *conflictProxy {
	t.Helper()
	target, tr := apiServerTransport(t, c)
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = target.Host
		},
		Transport: tr,
	}
	p := &conflictProxy{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && r.URL.Query().Get("dryRun") == "" {
			p.mu.Lock()
			fire := p.armed && strings.HasSuffix(r.URL.Path, "/secrets/"+p.name)
			if fire {
				p.armed = false
				p.fired++
			}
			change := p.change
			p.mu.Unlock()
			if fire {
				change()
			}
		}
		rp.ServeHTTP(w, r)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(func() { srv.Close(); tr.CloseIdleConnections() })
	p.URL = srv.URL
	p.CAData = pemCert(srv)
	return p
}

func pemCert(srv *httptest.Server) []byte {
	return []byte("-----BEGIN CERTIFICATE-----\n" + base64.StdEncoding.EncodeToString(srv.Certificate().Raw) + "\n-----END CERTIFICATE-----\n")
}

func (p *conflictProxy) firedCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fired
}

func (p *conflictProxy) arm(name string, change func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.armed, p.name, p.change = true, name, change
}

func (p *conflictProxy) kubeconfig(t *testing.T, c *kubetest.Cluster, user string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "proxy.kubeconfig")
	if err := kubetest.WriteKubeconfigFile(path, p.URL, p.CAData, user, c.RestConfig(user).BearerToken); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestKubeSinkConcurrentChangeIsAConflict(t *testing.T) {
	t.Parallel()
	if testing.Short() || rotatordBin == "" {
		t.Skip("integration test: runs the real binaries; skipped with -short")
	}
	c := kubetest.Start(t)

	for _, tt := range []struct {
		name string
		// change is what the other writer does to the Secret.
		change func(data map[string][]byte, labels map[string]string)
		// taken: the change leaves a Secret rotatord no longer manages.
		taken bool
		// remove: the other writer deletes the Secret instead.
		remove bool
		// revoke: the right to update Secrets is taken away instead,
		// after the probe found it.
		revoke bool
	}{
		{
			name:   "rbac-revoked-after-the-probe",
			revoke: true,
		},
		{
			name: "taken-by-another",
			change: func(data map[string][]byte, labels map[string]string) {
				delete(labels, "app.kubernetes.io/managed-by")
				data["api_key"], data["api_secret"] = []byte("EXOtheirs"), []byte("their-secret")
			},
			taken: true,
		},
		{
			name:   "deleted",
			remove: true,
		},
		{
			name: "consumer-adds-a-data-key",
			change: func(data map[string][]byte, labels map[string]string) {
				data["ca.crt"] = []byte("consumer data")
			},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			k := newKSEnv(t, c, "conflict-"+tt.name)
			c.Grant(t, "rotatord", k.ns, ksSinkRules)
			p := startConflictProxy(t, c)
			kubeconfig := p.kubeconfig(t, c, "rotatord")
			k.writePolicy(ksPolicy("0s", ksSink(k.ns, "exo-{{.Name}}", kubeconfig, "")))
			k.mustRun("once", "--force")
			first := k.holds("exo-ci-runner")

			p.arm("exo-ci-runner", func() {
				s, ok := k.secret("exo-ci-runner")
				if !ok {
					t.Errorf("no Secret to change")
					return
				}
				if tt.revoke {
					c.Grant(t, "rotatord", k.ns, []rbacv1.PolicyRule{
						{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "create"}},
					})
					eventually(t, 10*time.Second, func() (bool, string) {
						sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{User: "rotatord",
							ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: k.ns, Verb: "update", Resource: "secrets"}}}
						res, err := k.admin.AuthorizationV1().SubjectAccessReviews().Create(k.ctx(), sar, metav1.CreateOptions{})
						return err == nil && !res.Status.Allowed, "update still allowed"
					})
					return
				}
				if tt.remove {
					if err := k.admin.CoreV1().Secrets(k.ns).Delete(k.ctx(), s.Name, metav1.DeleteOptions{}); err != nil {
						t.Errorf("the other writer's delete: %v", err)
					}
					return
				}
				tt.change(s.Data, s.Labels)
				if _, err := k.admin.CoreV1().Secrets(k.ns).Update(k.ctx(), s, metav1.UpdateOptions{}); err != nil {
					t.Errorf("the other writer's update: %v", err)
				}
			})
			r := k.rotatord("once", "--force")
			if p.firedCount() != 1 {
				t.Fatalf("the proxy saw no update of the Secret to interpose on\n%s", r)
			}
			s, exists := k.secret("exo-ci-runner")
			t.Logf("once: exit %d\n%s", r.code, r.stdout)
			if tt.revoke {
				// RBAC denial at the write: the old key stays in place,
				// in the Secret and alive; the new key is gone.
				if r.code == 0 {
					t.Errorf("once succeeded without the right to update the Secret\n%s", r)
				}
				if got := k.holds("exo-ci-runner"); got != first {
					t.Errorf("the Secret holds %s, want the old %s", got, first)
				}
				live := k.sim.live("ci-runner")
				if len(live) != 1 || live[0].Key != first {
					t.Errorf("live keys %v, want only the old %s\n%s", ids(live), first, r)
				}
			} else if tt.remove {
				// Deleted in between: whatever rotatord does, no live key
				// but the old one may be one no Secret holds.
				held := ""
				if exists {
					held = k.holds("exo-ci-runner")
				}
				for _, l := range k.sim.live("ci-runner") {
					if l.Key != held && l.Key != first {
						t.Errorf("live key %s is held by no sink (Secret holds %q)\n%s", l.Key, held, r)
					}
				}
				if !exists && r.code == 0 {
					t.Errorf("once succeeded and left no Secret\n%s", r)
				}
			} else if tt.taken {
				// Never overwritten: the other writer's Secret stays as
				// it left it, and the new key, which no sink holds, is
				// gone; the old key stays.
				if r.code == 0 {
					t.Errorf("once succeeded over a Secret taken in between\n%s", r)
				}
				if got := string(s.Data["api_key"]); got != "EXOtheirs" {
					t.Errorf("the Secret holds %q: the concurrent change was overwritten\n%s", got, r)
				}
				live := k.sim.live("ci-runner")
				if len(live) != 1 || live[0].Key != first {
					t.Errorf("live keys %v, want only the old %s\n%s", ids(live), first, r)
				}
			} else {
				// The consumer's change is kept, whatever rotatord then
				// does with its own data keys.
				if string(s.Data["ca.crt"]) != "consumer data" {
					t.Errorf("the consumer's data key was overwritten\n%s", r)
				}
				held := k.holds("exo-ci-runner")
				for _, l := range k.sim.live("ci-runner") {
					if l.Key != held && l.Key != first {
						t.Errorf("live key %s is held by no sink (Secret holds %s)\n%s", l.Key, held, r)
					}
				}
			}
			k.checkNoSecretInOutput()
		})
	}
}

// take_over: true with the real binary: a Secret rotatord did not write
// is overwritten (its other data keys kept) and marked as rotatord's; a
// later pass without take_over then writes it as its own.
func TestKubeSinkTakeOver(t *testing.T) {
	t.Parallel()
	if testing.Short() || rotatordBin == "" {
		t.Skip("integration test: runs the real binaries; skipped with -short")
	}
	c := kubetest.Start(t)
	k, kubeconfig := newKSEnvAsRotatord(t, c, "takeover")
	if _, err := k.admin.CoreV1().Secrets(k.ns).Create(k.ctx(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "exo-ci-runner", Namespace: k.ns},
		Data:       map[string][]byte{"api_key": []byte("EXOhandmade"), "api_secret": []byte("handmade"), "extra": []byte("kept")},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	old := k.sim.only("ci-runner")
	k.writePolicy(ksPolicy("0s", ksSink(k.ns, "exo-{{.Name}}", kubeconfig, "take_over: true\n")))
	k.mustRun("once", "--force")
	first := k.holds("exo-ci-runner")
	if first == old.Key {
		t.Fatalf("the Secret holds the old key")
	}
	s, _ := k.secret("exo-ci-runner")
	if string(s.Data["extra"]) != "kept" {
		t.Errorf("take_over dropped the Secret's other data key")
	}
	k.writePolicy(ksPolicy("0s", ksSink(k.ns, "exo-{{.Name}}", kubeconfig, "")))
	k.mustRun("once", "--force")
	if second := k.holds("exo-ci-runner"); second == first {
		t.Errorf("the second rotation, without take_over, left the Secret on %s", first)
	}
	k.checkNoSecretInOutput()
}

// restart: a StatefulSet and a DaemonSet, with the least RBAC the README
// gives (patch on exactly those workloads, nothing else on them): both
// pod templates get the restartedAt annotation after the delivery.
func TestKubeSinkRestartsStatefulSetAndDaemonSetWithLeastRBAC(t *testing.T) {
	t.Parallel()
	if testing.Short() || rotatordBin == "" {
		t.Skip("integration test: runs the real binaries; skipped with -short")
	}
	c := kubetest.Start(t)
	k := newKSEnv(t, c, "restart-kinds")
	c.Grant(t, "rotatord", k.ns, []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "create", "update"}},
		{APIGroups: []string{"apps"}, Resources: []string{"statefulsets"}, ResourceNames: []string{"db"}, Verbs: []string{"patch"}},
		{APIGroups: []string{"apps"}, Resources: []string{"daemonsets"}, ResourceNames: []string{"agent"}, Verbs: []string{"patch"}},
	})
	kubeconfig := c.Kubeconfig(t, "rotatord")
	labels := map[string]string{"app": "x"}
	sel := &metav1.LabelSelector{MatchLabels: labels}
	tmpl := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "x", Image: "registry.invalid/x:1"}}},
	}
	apps := k.admin.AppsV1()
	if _, err := apps.StatefulSets(k.ns).Create(k.ctx(), &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec: appsv1.StatefulSetSpec{Selector: sel, Template: tmpl}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := apps.DaemonSets(k.ns).Create(k.ctx(), &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "agent"},
		Spec: appsv1.DaemonSetSpec{Selector: sel, Template: tmpl}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	k.writePolicy(ksPolicy("0s", ksSink(k.ns, "exo-{{.Name}}", kubeconfig,
		"restart:\n  - {kind: StatefulSet, name: db}\n  - {kind: DaemonSet, name: agent}\n")))
	r := k.rotatord("once", "--force")
	if r.code != 0 {
		t.Fatalf("once failed\n%s", r)
	}
	k.holds("exo-ci-runner")
	ss, err := apps.StatefulSets(k.ns).Get(k.ctx(), "db", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := apps.DaemonSets(k.ns).Get(k.ctx(), "agent", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for kind, a := range map[string]map[string]string{"StatefulSet": ss.Spec.Template.Annotations, "DaemonSet": ds.Spec.Template.Annotations} {
		if a["kubectl.kubernetes.io/restartedAt"] == "" {
			t.Errorf("%s: no restartedAt annotation on its pod template: %v", kind, a)
		}
	}
}

// A Secret rotatord wrote for another policy is not this policy's: once
// refuses it at the probe, before creating a key, unless take_over.
func TestKubeSinkRefusesAnotherPolicysSecret(t *testing.T) {
	t.Parallel()
	if testing.Short() || rotatordBin == "" {
		t.Skip("integration test: runs the real binaries; skipped with -short")
	}
	c := kubetest.Start(t)
	k, kubeconfig := newKSEnvAsRotatord(t, c, "other-policy")
	pre, err := k.admin.CoreV1().Secrets(k.ns).Create(k.ctx(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "exo-ci-runner", Namespace: k.ns,
			Labels:      map[string]string{"app.kubernetes.io/managed-by": "rotatord"},
			Annotations: map[string]string{"rotatord.io/policy": "other", "rotatord.io/key-name": "ci-runner"}},
		Data: map[string][]byte{"api_key": []byte("EXOother"), "api_secret": []byte("other")},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	k.writePolicy(ksPolicy("0s", ksSink(k.ns, "exo-{{.Name}}", kubeconfig, "")))
	r := k.rotatord("once", "--force")
	if r.code == 0 {
		t.Fatalf("once over another policy's Secret succeeded\n%s", r)
	}
	if n := createdNamed(k.env, "ci-runner"); n != 1 {
		t.Errorf("%d keys named ci-runner ever existed, want 1: a key was created for a refused sink\n%s", n, r)
	}
	if s, _ := k.secret("exo-ci-runner"); s.ResourceVersion != pre.ResourceVersion {
		t.Errorf("another policy's Secret was changed")
	}
	t.Logf("%s", r.stdout)
}

// The right to restart the Deployment is taken away after the probe: the
// Secret gets the new key, but the pods that read it at start are not
// rolled out. The old key must not be deleted as if they had been (grace
// period 0s here), and once must not report success.
func TestKubeSinkRestartDeniedAfterTheProbeKeepsTheOldKey(t *testing.T) {
	t.Parallel()
	if testing.Short() || rotatordBin == "" {
		t.Skip("integration test: runs the real binaries; skipped with -short")
	}
	c := kubetest.Start(t)
	k := newKSEnv(t, c, "restart-revoked")
	c.Grant(t, "rotatord", k.ns, ksSinkRules)
	labels := map[string]string{"app": "web"}
	if _, err := k.admin.AppsV1().Deployments(k.ns).Create(k.ctx(), &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: k.ns},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.invalid/web:1"}}},
			},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p := startConflictProxy(t, c)
	kubeconfig := p.kubeconfig(t, c, "rotatord")
	k.writePolicy(ksPolicy("0s", ksSink(k.ns, "exo-{{.Name}}", kubeconfig, "restart:\n  - {kind: Deployment, name: web}\n")))
	k.mustRun("once", "--force")
	first := k.holds("exo-ci-runner")

	p.arm("exo-ci-runner", func() {
		c.Grant(t, "rotatord", k.ns, []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "create", "update"}},
		})
		eventually(t, 10*time.Second, func() (bool, string) {
			sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{User: "rotatord",
				ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: k.ns, Verb: "patch", Group: "apps", Resource: "deployments", Name: "web"}}}
			res, err := k.admin.AuthorizationV1().SubjectAccessReviews().Create(k.ctx(), sar, metav1.CreateOptions{})
			return err == nil && !res.Status.Allowed, "patch still allowed"
		})
	})
	r := k.rotatord("once", "--force")
	t.Logf("%s", r.stdout)
	if p.firedCount() != 1 {
		t.Fatalf("no Secret update to interpose on\n%s", r)
	}
	if r.code == 0 {
		t.Errorf("once succeeded though the Deployment was not restarted\n%s", r)
	}
	if kk, _ := k.sim.key(first); !kk.Alive {
		t.Errorf("the old key %s was deleted though the pods reading it were never restarted\n%s", first, r)
	}
	k.checkNoSecretInOutput()
}
