package kubernetes_test

// The Secret sink against a real kube-apiserver and etcd (internal/kubetest):
// the tests skip without the binaries, unless ROTATORD_REQUIRE_KUBE=1.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/rotatord/rotatord/internal/kubetest"
	"github.com/rotatord/rotatord/secret"
	"github.com/rotatord/rotatord/sinks"
	"github.com/rotatord/rotatord/sinks/file"
	ksink "github.com/rotatord/rotatord/sinks/kubernetes"
)

const (
	user   = "rotatord"
	policy = "ci"
)

var fixedNow = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// fullRules are the least rights the sink needs, as deploy/ grants them.
var fullRules = []rbacv1.PolicyRule{
	{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "create", "update"}},
	{APIGroups: []string{"apps"}, Resources: []string{"deployments", "statefulsets", "daemonsets"}, Verbs: []string{"patch"}},
}

// world is one subtest's namespace on the shared cluster, with an admin
// client, and the secrets its credentials hold (which no error may show).
type world struct {
	t       *testing.T
	c       *kubetest.Cluster
	ns      string
	admin   kubernetes.Interface
	secrets []string
	errs    []error
}

var nsSeq struct {
	sync.Mutex
	n int
}

func newWorld(t *testing.T, c *kubetest.Cluster) *world {
	t.Helper()
	nsSeq.Lock()
	nsSeq.n++
	ns := fmt.Sprintf("sink-%d", nsSeq.n)
	nsSeq.Unlock()
	c.CreateNamespace(t, ns)
	w := &world{t: t, c: c, ns: ns, admin: c.Client(t, kubetest.Admin)}
	t.Cleanup(w.checkErrors)
	return w
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// recorder sees every request a client makes, and can run a function right
// after the response to the next GET of a Secret (between the sink's read
// and its write).
type recorder struct {
	mu       sync.Mutex
	reqs     []string
	afterGet func()
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func (r *recorder) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		resp, err := rt.RoundTrip(req)
		r.mu.Lock()
		if req.URL.Query().Get("dryRun") == "" {
			// A dry run (the probe's patch of a workload) changes nothing.
			r.reqs = append(r.reqs, req.Method+" "+req.URL.Path)
		}
		hook := r.afterGet
		if req.Method == http.MethodGet && strings.Contains(req.URL.Path, "/secrets/") {
			r.afterGet = nil
		} else {
			hook = nil
		}
		r.mu.Unlock()
		if hook != nil && err == nil {
			// The server answered; the sink holds the old object once it
			// reads this body, whatever changes now.
			body, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr != nil {
				return nil, rerr
			}
			resp.Body = io.NopCloser(bytes.NewReader(body))
			hook()
		}
		return resp, err
	})
}

func (r *recorder) arm(f func()) {
	r.mu.Lock()
	r.afterGet = f
	r.mu.Unlock()
}

// writes are the requests that change something, access reviews aside.
func (r *recorder) writes() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, q := range r.reqs {
		if strings.HasPrefix(q, http.MethodGet+" ") || strings.HasSuffix(q, "/selfsubjectaccessreviews") {
			continue
		}
		out = append(out, q)
	}
	return out
}

func (r *recorder) reset() {
	r.mu.Lock()
	r.reqs = nil
	r.mu.Unlock()
}

// client is a clientset for user, its requests recorded.
func (w *world) client(u string) (kubernetes.Interface, *recorder) {
	w.t.Helper()
	rec := &recorder{}
	cfg := w.c.RestConfig(u)
	cfg.WrapTransport = rec.wrap
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	return cs, rec
}

// sink makes a sink for the plain user (granted rules, unless nil) in w's
// namespace, with name template "exo-{{.Name}}" unless change sets another.
func (w *world) sink(rules []rbacv1.PolicyRule, change func(*ksink.Options)) (*ksink.Sink, *recorder) {
	w.t.Helper()
	if rules != nil {
		w.c.Grant(w.t, user, w.ns, rules)
	}
	cs, rec := w.client(user)
	opts := ksink.Options{
		Client:    cs,
		Namespace: w.ns,
		Name:      template.Must(template.New("name").Parse("exo-{{.Name}}")),
		Policy:    policy,
		Now:       func() time.Time { return fixedNow },
	}
	if change != nil {
		change(&opts)
	}
	s, err := ksink.New(opts)
	if err != nil {
		w.t.Fatalf("New: %v", err)
	}
	return s, rec
}

var credSeq struct {
	sync.Mutex
	n int
}

// cred is a fresh credential for name whose secret is remembered.
func (w *world) cred(name string) sinks.Credential {
	credSeq.Lock()
	credSeq.n++
	n := credSeq.n
	credSeq.Unlock()
	sv := fmt.Sprintf("S3cr3t-%d-%s-%d", n, strings.Repeat("z", 12), time.Now().UnixNano())
	w.secrets = append(w.secrets, sv)
	return sinks.Credential{
		Name:      name,
		KeyID:     fmt.Sprintf("EXO%024d", n),
		RoleID:    "5e0f2c1a-7d3b-4c8e-9a10-000000000002",
		Secret:    secret.Value(sv),
		CreatedAt: fixedNow,
	}
}

// note keeps err for the check that no error shows a secret.
func (w *world) note(err error) error {
	if err != nil {
		w.errs = append(w.errs, err)
	}
	return err
}

func (w *world) checkErrors() {
	for _, err := range w.errs {
		for _, s := range w.secrets {
			if strings.Contains(err.Error(), s) || strings.Contains(fmt.Sprintf("%+v %#v", err, err), s) {
				w.t.Errorf("an error shows a secret: %v", err)
			}
		}
	}
}

func (w *world) get(name string) *corev1.Secret {
	w.t.Helper()
	sec, err := w.admin.CoreV1().Secrets(w.ns).Get(ctxT(w.t), name, metav1.GetOptions{})
	if err != nil {
		w.t.Fatalf("get Secret %s: %v", name, err)
	}
	return sec
}

func (w *world) createSecret(sec *corev1.Secret) *corev1.Secret {
	w.t.Helper()
	sec.Namespace = w.ns
	out, err := w.admin.CoreV1().Secrets(w.ns).Create(ctxT(w.t), sec, metav1.CreateOptions{})
	if err != nil {
		w.t.Fatalf("create Secret %s: %v", sec.Name, err)
	}
	return out
}

func (w *world) secretCount() int {
	w.t.Helper()
	list, err := w.admin.CoreV1().Secrets(w.ns).List(ctxT(w.t), metav1.ListOptions{})
	if err != nil {
		w.t.Fatal(err)
	}
	return len(list.Items)
}

// mustWrite writes c and checks it reads back.
func (w *world) mustWrite(s *ksink.Sink, c sinks.Credential) {
	w.t.Helper()
	ctx := ctxT(w.t)
	if err := w.note(s.Probe(ctx, c.Name)); err != nil {
		w.t.Fatalf("Probe(%s): %v", c.Name, err)
	}
	if err := w.note(s.Write(ctx, c)); err != nil {
		w.t.Fatalf("Write(%s): %v", c.Name, err)
	}
	if err := w.note(s.Verify(ctx, c)); err != nil {
		w.t.Fatalf("Verify(%s) after Write: %v", c.Name, err)
	}
	h, err := s.Read(ctx, c.Name)
	if w.note(err) != nil || h.KeyID != c.KeyID || h.Secret.Reveal() != c.Secret.Reveal() {
		w.t.Fatalf("Read(%s) after Write: %s, %v; want %s", c.Name, h.KeyID, err, c.KeyID)
	}
}

func TestSink(t *testing.T) {
	t.Parallel()
	c := kubetest.Start(t)

	t.Run("create", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, c)
		s, rec := w.sink(fullRules, func(o *ksink.Options) {
			o.Labels = map[string]string{"team": "ci"}
			o.Annotations = map[string]string{"example.com/owner": "platform"}
		})
		ctx := ctxT(t)
		cr := w.cred("ci-runner")
		if _, err := s.Read(ctx, cr.Name); !errors.Is(w.note(err), sinks.ErrNotHeld) {
			t.Fatalf("Read before any write: %v, want ErrNotHeld", err)
		}
		if err := s.Verify(ctx, cr); !errors.Is(w.note(err), sinks.ErrNotHeld) {
			t.Fatalf("Verify before any write: %v, want ErrNotHeld", err)
		}
		if err := w.note(s.Probe(ctx, cr.Name)); err != nil {
			t.Fatalf("Probe: %v", err)
		}
		if got := rec.writes(); len(got) != 0 {
			t.Fatalf("Probe and Read changed something: %v", got)
		}
		w.mustWrite(s, cr)
		if got := s.Target(cr.Name); got != w.ns+"/exo-ci-runner" {
			t.Errorf("Target = %q", got)
		}

		sec := w.get("exo-ci-runner")
		if sec.Type != corev1.SecretTypeOpaque {
			t.Errorf("type %q, want Opaque", sec.Type)
		}
		if got := sec.Labels[ksink.ManagedByLabel]; got != ksink.ManagedByValue {
			t.Errorf("label %s = %q", ksink.ManagedByLabel, got)
		}
		if sec.Labels["team"] != "ci" || sec.Annotations["example.com/owner"] != "platform" {
			t.Errorf("configured labels/annotations missing: %v %v", sec.Labels, sec.Annotations)
		}
		for k, want := range map[string]string{ksink.PolicyKey: policy, ksink.KeyNameKey: "ci-runner", ksink.KeyIDKey: cr.KeyID} {
			if got := sec.Annotations[k]; got != want {
				t.Errorf("annotation %s = %q, want %q", k, got, want)
			}
		}
		if string(sec.Data[ksink.DefaultKeyField]) != cr.KeyID || string(sec.Data[ksink.DefaultSecretField]) != cr.Secret.Reveal() {
			t.Errorf("data %v", slices.Sorted(maps.Keys(sec.Data)))
		}
		if len(sec.Data) != 2 {
			t.Errorf("data keys %v, want api_key and api_secret only", slices.Sorted(maps.Keys(sec.Data)))
		}
		for k, v := range sec.Annotations {
			if strings.Contains(v, cr.Secret.Reveal()) {
				t.Errorf("annotation %s holds the secret", k)
			}
		}

		// Verify tells a different credential apart.
		other := cr
		other.Secret = secret.Value("not-" + cr.Secret.Reveal())
		if err := s.Verify(ctx, other); !errors.Is(w.note(err), sinks.ErrMismatch) {
			t.Errorf("Verify with another secret: %v, want ErrMismatch", err)
		}
		other = w.cred("ci-runner")
		if err := s.Verify(ctx, other); !errors.Is(w.note(err), sinks.ErrMismatch) {
			t.Errorf("Verify with another key: %v, want ErrMismatch", err)
		}
	})

	t.Run("custom-keys", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, c)
		s, _ := w.sink(fullRules, func(o *ksink.Options) {
			o.KeyField, o.SecretField = "EXOSCALE_API_KEY", "exoscale.secret"
			o.Name = template.Must(template.New("n").Parse("{{.Name}}-credentials"))
		})
		cr := w.cred("backup")
		w.mustWrite(s, cr)
		sec := w.get("backup-credentials")
		if string(sec.Data["EXOSCALE_API_KEY"]) != cr.KeyID || string(sec.Data["exoscale.secret"]) != cr.Secret.Reveal() || len(sec.Data) != 2 {
			t.Errorf("data keys %v", slices.Sorted(maps.Keys(sec.Data)))
		}

		// One of the two keys removed: the Secret holds something
		// rotatord cannot read as a credential.
		sec.Data["exoscale.secret"] = nil
		delete(sec.Data, "exoscale.secret")
		if _, err := w.admin.CoreV1().Secrets(w.ns).Update(ctxT(t), sec, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Read(ctxT(t), "backup"); !errors.Is(w.note(err), sinks.ErrUnreadable) {
			t.Errorf("Read with the secret key removed: %v, want ErrUnreadable", err)
		}
		if err := s.Verify(ctxT(t), cr); err == nil || w.note(err) == nil {
			t.Errorf("Verify with the secret key removed: nil")
		}
	})

	t.Run("formats", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, c)
		for _, format := range []string{file.FormatEnv, file.FormatJSON, file.FormatExoscaleTOML} {
			s, _ := w.sink(fullRules, func(o *ksink.Options) {
				o.Format, o.Key = format, "credentials"
				o.Name = template.Must(template.New("n").Parse(format + "-{{.Name}}"))
			})
			cr := w.cred("ci-runner")
			w.mustWrite(s, cr)
			sec := w.get(format + "-ci-runner")
			want, err := file.Render(format, cr)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(sec.Data["credentials"], want) || len(sec.Data) != 1 {
				t.Errorf("%s: data keys %v; the document differs from the file sink's", format, slices.Sorted(maps.Keys(sec.Data)))
			}
			// A second rotation replaces the document.
			cr2 := w.cred("ci-runner")
			w.mustWrite(s, cr2)
			if err := s.Verify(ctxT(t), cr); !errors.Is(w.note(err), sinks.ErrMismatch) {
				t.Errorf("%s: Verify of the replaced credential: %v, want ErrMismatch", format, err)
			}
			// A damaged document is unreadable, and the error quotes none of it.
			sec = w.get(format + "-ci-runner")
			sec.Data["credentials"] = []byte("garbage " + cr2.Secret.Reveal())
			if _, err := w.admin.CoreV1().Secrets(w.ns).Update(ctxT(t), sec, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Read(ctxT(t), "ci-runner"); !errors.Is(w.note(err), sinks.ErrUnreadable) {
				t.Errorf("%s: Read of a damaged document: %v, want ErrUnreadable", format, err)
			}
		}
		// The free-form template and unknown formats belong to no Secret.
		for _, format := range []string{file.FormatTemplate, "yaml"} {
			cs, _ := w.client(user)
			_, err := ksink.New(ksink.Options{
				Client: cs, Namespace: w.ns, Name: template.Must(template.New("n").Parse("{{.Name}}")),
				Format: format, Key: "credentials", Policy: policy,
			})
			if err == nil {
				t.Errorf("New accepts format %q", format)
			}
		}
	})

	t.Run("update-keeps-foreign-data", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, c)
		s, _ := w.sink(fullRules, nil)
		cr := w.cred("ci-runner")
		w.mustWrite(s, cr)
		sec := w.get("exo-ci-runner")
		sec.Data["ca.crt"] = []byte("-----BEGIN CERTIFICATE-----")
		sec.Labels["app"] = "runner"
		sec.Annotations["note"] = "kept"
		if _, err := w.admin.CoreV1().Secrets(w.ns).Update(ctxT(t), sec, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		cr2 := w.cred("ci-runner")
		w.mustWrite(s, cr2)
		sec = w.get("exo-ci-runner")
		if string(sec.Data["ca.crt"]) != "-----BEGIN CERTIFICATE-----" {
			t.Errorf("foreign data key ca.crt lost: %v", slices.Sorted(maps.Keys(sec.Data)))
		}
		if sec.Labels["app"] != "runner" || sec.Annotations["note"] != "kept" {
			t.Errorf("foreign label or annotation lost: %v %v", sec.Labels, sec.Annotations)
		}
		if sec.Annotations[ksink.KeyIDKey] != cr2.KeyID {
			t.Errorf("key id annotation %q, want %s", sec.Annotations[ksink.KeyIDKey], cr2.KeyID)
		}
	})

	t.Run("unmanaged", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, c)
		w.createSecret(&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "exo-ci-runner", Labels: map[string]string{"app": "mine"}},
			Data:       map[string][]byte{"api_key": []byte("EXOhandmade"), "api_secret": []byte("handmade"), "other": []byte("x")},
		})
		before := w.get("exo-ci-runner")
		s, rec := w.sink(fullRules, nil)
		ctx := ctxT(t)
		cr := w.cred("ci-runner")
		err := s.Probe(ctx, cr.Name)
		if !errors.Is(w.note(err), ksink.ErrNotManaged) || !strings.Contains(err.Error(), "take_over") {
			t.Errorf("Probe of an unmanaged Secret: %v, want ErrNotManaged naming take_over", err)
		}
		if err := s.Write(ctx, cr); !errors.Is(w.note(err), ksink.ErrNotManaged) {
			t.Errorf("Write over an unmanaged Secret: %v, want ErrNotManaged", err)
		}
		if _, err := s.Read(ctx, cr.Name); !errors.Is(w.note(err), sinks.ErrUnreadable) {
			t.Errorf("Read of an unmanaged Secret: %v, want ErrUnreadable", err)
		}
		if got := rec.writes(); len(got) != 0 {
			t.Errorf("the refused sink changed something: %v", got)
		}
		if after := w.get("exo-ci-runner"); after.ResourceVersion != before.ResourceVersion {
			t.Errorf("the unmanaged Secret changed")
		}

		// take_over: the Secret becomes rotatord's, its other data kept.
		s2, _ := w.sink(nil, func(o *ksink.Options) { o.TakeOver = true })
		w.mustWrite(s2, cr)
		after := w.get("exo-ci-runner")
		if after.Labels[ksink.ManagedByLabel] != ksink.ManagedByValue || after.Annotations[ksink.PolicyKey] != policy {
			t.Errorf("taken over Secret not marked: %v %v", after.Labels, after.Annotations)
		}
		if string(after.Data["other"]) != "x" || after.Labels["app"] != "mine" {
			t.Errorf("take over dropped foreign data or labels")
		}
		// From now on the sink without take_over owns it too.
		w.mustWrite(s, w.cred("ci-runner"))
	})

	t.Run("other-policy", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, c)
		a, _ := w.sink(fullRules, func(o *ksink.Options) { o.Policy = "alpha" })
		crA := w.cred("ci-runner")
		w.mustWrite(a, crA)
		b, _ := w.sink(nil, func(o *ksink.Options) { o.Policy = "beta" })
		ctx := ctxT(t)
		crB := w.cred("ci-runner")
		err := b.Probe(ctx, crB.Name)
		if !errors.Is(w.note(err), ksink.ErrNotManaged) || !strings.Contains(err.Error(), `"alpha"`) {
			t.Errorf("Probe of another policy's Secret: %v, want ErrNotManaged naming policy alpha", err)
		}
		if err := b.Write(ctx, crB); !errors.Is(w.note(err), ksink.ErrNotManaged) {
			t.Errorf("Write over another policy's Secret: %v, want ErrNotManaged", err)
		}
		if _, err := b.Read(ctx, crB.Name); !errors.Is(w.note(err), sinks.ErrUnreadable) {
			t.Errorf("Read of another policy's Secret: %v, want ErrUnreadable", err)
		}
		if err := w.note(a.Verify(ctx, crA)); err != nil {
			t.Errorf("policy alpha's credential overwritten: %v", err)
		}
	})

	t.Run("conflict-update", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, c)
		s, rec := w.sink(fullRules, nil)
		cr := w.cred("ci-runner")
		w.mustWrite(s, cr)
		// Between the sink's read and its update, someone else changes the
		// Secret: the update must fail, not overwrite the change.
		rec.arm(func() {
			sec := w.get("exo-ci-runner")
			sec.Data["api_key"] = []byte("EXOconcurrent")
			if _, err := w.admin.CoreV1().Secrets(w.ns).Update(context.Background(), sec, metav1.UpdateOptions{}); err != nil {
				t.Errorf("concurrent update: %v", err)
			}
		})
		cr2 := w.cred("ci-runner")
		err := s.Write(ctxT(t), cr2)
		if !errors.Is(w.note(err), ksink.ErrConflict) {
			t.Fatalf("Write with a concurrent change: %v, want ErrConflict", err)
		}
		sec := w.get("exo-ci-runner")
		if string(sec.Data["api_key"]) != "EXOconcurrent" || string(sec.Data["api_secret"]) != cr.Secret.Reveal() {
			t.Errorf("the concurrent change was overwritten: api_key %q", sec.Data["api_key"])
		}
		// The next attempt reads the new version and succeeds.
		w.mustWrite(s, cr2)
	})

	t.Run("conflict-create", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, c)
		s, rec := w.sink(fullRules, nil)
		// The Secret does not exist when the sink reads; someone creates
		// it before the sink does.
		rec.arm(func() {
			_, err := w.admin.CoreV1().Secrets(w.ns).Create(context.Background(), &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Name: "exo-ci-runner", Namespace: w.ns},
				Data:       map[string][]byte{"api_key": []byte("EXOsomeoneelse")},
			}, metav1.CreateOptions{})
			if err != nil {
				t.Errorf("concurrent create: %v", err)
			}
		})
		cr := w.cred("ci-runner")
		if err := s.Write(ctxT(t), cr); !errors.Is(w.note(err), ksink.ErrConflict) {
			t.Fatalf("Write with a concurrent create: %v, want ErrConflict", err)
		}
		sec := w.get("exo-ci-runner")
		if string(sec.Data["api_key"]) != "EXOsomeoneelse" || sec.Labels[ksink.ManagedByLabel] != "" {
			t.Errorf("the concurrently created Secret was overwritten")
		}
	})

	t.Run("restart", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, c)
		ctx := ctxT(t)
		labels := map[string]string{"app": "web"}
		tmpl := corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: map[string]string{"keep": "me"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.invalid/web:1"}}},
		}
		sel := &metav1.LabelSelector{MatchLabels: labels}
		apps := w.admin.AppsV1()
		if _, err := apps.Deployments(w.ns).Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web"},
			Spec: appsv1.DeploymentSpec{Selector: sel, Template: tmpl}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := apps.StatefulSets(w.ns).Create(ctx, &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "db"},
			Spec: appsv1.StatefulSetSpec{Selector: sel, Template: tmpl}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := apps.DaemonSets(w.ns).Create(ctx, &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "agent"},
			Spec: appsv1.DaemonSetSpec{Selector: sel, Template: tmpl}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		s, _ := w.sink(fullRules, func(o *ksink.Options) {
			o.Restart = []ksink.Workload{{Kind: "Deployment", Name: "web"}, {Kind: "StatefulSet", Name: "db"}, {Kind: "DaemonSet", Name: "agent"}}
		})
		w.mustWrite(s, w.cred("ci-runner"))
		want := fixedNow.Format(time.RFC3339)
		check := func(kind string, m metav1.ObjectMeta) {
			if got := m.Annotations[ksink.RestartedAtKey]; got != want {
				t.Errorf("%s: pod template annotation %s = %q, want %q", kind, ksink.RestartedAtKey, got, want)
			}
			if m.Annotations["keep"] != "me" {
				t.Errorf("%s: the patch dropped another pod template annotation", kind)
			}
		}
		d, err := apps.Deployments(w.ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		check("Deployment", d.Spec.Template.ObjectMeta)
		ss, err := apps.StatefulSets(w.ns).Get(ctx, "db", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		check("StatefulSet", ss.Spec.Template.ObjectMeta)
		ds, err := apps.DaemonSets(w.ns).Get(ctx, "agent", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		check("DaemonSet", ds.Spec.Template.ObjectMeta)

		// A workload that does not exist: the Secret is written, and the
		// error says the restart failed.
		s2, _ := w.sink(nil, func(o *ksink.Options) {
			o.Name = template.Must(template.New("n").Parse("other-{{.Name}}"))
			o.Restart = []ksink.Workload{{Kind: "Deployment", Name: "missing"}}
		})
		cr := w.cred("ci-runner")
		// The probe finds it missing first (a dry-run patch), so no key is
		// created for a restart that cannot happen.
		if err := s2.Probe(ctx, cr.Name); w.note(err) == nil || !strings.Contains(err.Error(), "missing") {
			t.Errorf("Probe restarting a missing Deployment: %v, want an error naming it", err)
		}
		err = s2.Write(ctx, cr)
		if w.note(err) == nil || !strings.Contains(err.Error(), "missing") {
			t.Errorf("Write restarting a missing Deployment: %v, want an error naming it", err)
		}
		if err := w.note(s2.Verify(ctx, cr)); err != nil {
			t.Errorf("the Secret was not written before the failed restart: %v", err)
		}
	})

	t.Run("rbac", func(t *testing.T) {
		t.Parallel()
		restart := func(o *ksink.Options) { o.Restart = []ksink.Workload{{Kind: "Deployment", Name: "web"}} }
		tests := []struct {
			name   string
			rules  []rbacv1.PolicyRule
			exists bool
			want   string
		}{
			{name: "no-get", rules: []rbacv1.PolicyRule{
				{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"create", "update"}},
			}, want: "cannot get"},
			{name: "no-create", rules: []rbacv1.PolicyRule{
				{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "update"}},
				{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"patch"}},
			}, want: "RBAC does not allow create on secrets"},
			{name: "no-update", exists: true, rules: []rbacv1.PolicyRule{
				{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "create"}},
				{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"patch"}},
			}, want: "RBAC does not allow update on secrets/exo-ci-runner"},
			{name: "update-other-name", exists: true, rules: []rbacv1.PolicyRule{
				{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "create"}},
				{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"update"}, ResourceNames: []string{"exo-someone-else"}},
				{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"patch"}},
			}, want: "RBAC does not allow update on secrets/exo-ci-runner"},
			{name: "no-patch", rules: []rbacv1.PolicyRule{
				{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "create", "update"}},
				{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get", "update"}},
			}, want: "RBAC does not allow patch on deployments/web"},
			{name: "patch-other-workload", rules: []rbacv1.PolicyRule{
				{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "create", "update"}},
				{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"patch"}, ResourceNames: []string{"api"}},
			}, want: "RBAC does not allow patch on deployments/web"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				w := newWorld(t, c)
				ctx := ctxT(t)
				if tt.exists {
					w.createSecret(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "exo-ci-runner",
						Labels:      map[string]string{ksink.ManagedByLabel: ksink.ManagedByValue},
						Annotations: map[string]string{ksink.PolicyKey: policy}}})
				}
				s, rec := w.sink(tt.rules, restart)
				cr := w.cred("ci-runner")
				err := s.Probe(ctx, cr.Name)
				if w.note(err) == nil || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("Probe = %v, want an error containing %q", err, tt.want)
				} else if !strings.Contains(err.Error(), w.ns+"/exo-ci-runner") {
					t.Errorf("Probe error does not name the Secret: %v", err)
				}
				if got := rec.writes(); len(got) != 0 {
					t.Errorf("Probe changed something: %v", got)
				}
				want := 0
				if tt.exists {
					want = 1
				}
				if n := w.secretCount(); n != want {
					t.Errorf("%d Secrets in the namespace after the refused probe, want %d", n, want)
				}
			})
		}
		// Without the probe, a Write the API forbids fails without showing
		// the secret it carried.
		t.Run("write-forbidden", func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, c)
			s, _ := w.sink([]rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}}}, nil)
			err := s.Write(ctxT(t), w.cred("ci-runner"))
			if w.note(err) == nil || !strings.Contains(err.Error(), "forbidden") {
				t.Errorf("forbidden Write: %v", err)
			}
			if n := w.secretCount(); n != 0 {
				t.Errorf("%d Secrets after a forbidden write", n)
			}
		})
	})

	t.Run("hostile-names", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, c)
		for _, tmpl := range []string{"{{.Name}}", "exo-{{.Name}}"} {
			s, rec := w.sink(fullRules, func(o *ksink.Options) { o.Name = template.Must(template.New("n").Parse(tmpl)) })
			names := []string{"CI-Runner", "../x", "..", "a/b", strings.Repeat("a", 300), "ключ", "ci runner", "ci_runner", "ci\nrunner", ""}
			for _, n := range names {
				ctx := ctxT(t)
				quoted := fmt.Sprintf("%q", n)
				err := s.Probe(ctx, n)
				if w.note(err) == nil || !strings.Contains(err.Error(), quoted) {
					t.Errorf("%s: Probe(%s) = %v, want an error naming it", tmpl, quoted, err)
				}
				cr := w.cred(n)
				err = s.Write(ctx, cr)
				if w.note(err) == nil || !strings.Contains(err.Error(), quoted) {
					t.Errorf("%s: Write(%s) = %v, want an error naming it", tmpl, quoted, err)
				}
				if _, err := s.Read(ctx, n); w.note(err) == nil {
					t.Errorf("%s: Read(%s) = nil error", tmpl, quoted)
				}
				if got := s.Target(n); got != w.ns+"/<invalid name>" {
					t.Errorf("%s: Target(%s) = %q", tmpl, quoted, got)
				}
			}
			if got := rec.writes(); len(got) != 0 {
				t.Errorf("%s: hostile names reached the API: %v", tmpl, got)
			}
		}
		if n := w.secretCount(); n != 0 {
			t.Errorf("%d Secrets created for hostile names", n)
		}
	})

	t.Run("immutable", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, c)
		yes := true
		w.createSecret(&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "exo-ci-runner",
				Labels:      map[string]string{ksink.ManagedByLabel: ksink.ManagedByValue},
				Annotations: map[string]string{ksink.PolicyKey: policy}},
			Immutable: &yes,
			Data:      map[string][]byte{"api_key": []byte("EXOold"), "api_secret": []byte("old")},
		})
		s, rec := w.sink(fullRules, nil)
		ctx := ctxT(t)
		cr := w.cred("ci-runner")
		// The probe must see what the write would refuse: a broken sink
		// costs no key.
		if err := s.Probe(ctx, cr.Name); w.note(err) == nil || !strings.Contains(err.Error(), "immutable") {
			t.Errorf("Probe of an immutable Secret: %v, want an error saying it is immutable", err)
		}
		if err := s.Write(ctx, cr); w.note(err) == nil || !strings.Contains(err.Error(), "immutable") {
			t.Errorf("Write to an immutable Secret: %v", err)
		}
		if got := rec.writes(); len(got) != 0 {
			t.Errorf("writes to an immutable Secret: %v", got)
		}
	})

	t.Run("concurrent-names", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, c)
		s, _ := w.sink(fullRules, nil)
		var creds []sinks.Credential
		for i := range 8 {
			creds = append(creds, w.cred(fmt.Sprintf("key-%d", i)), w.cred(fmt.Sprintf("key-%d", i)))
		}
		var wg sync.WaitGroup
		errs := make([]error, len(creds))
		for i, cr := range creds {
			wg.Go(func() { errs[i] = s.Write(ctxT(t), cr) })
		}
		wg.Wait()
		for i, err := range errs {
			// Two writes of one name are serialized by the sink: neither
			// conflicts with the other.
			if w.note(err) != nil {
				t.Errorf("Write %s: %v", creds[i].Name, err)
			}
		}
		for i := 0; i < len(creds); i += 2 {
			h, err := s.Read(ctxT(t), creds[i].Name)
			if w.note(err) != nil || (h.KeyID != creds[i].KeyID && h.KeyID != creds[i+1].KeyID) {
				t.Errorf("Read %s: %s, %v", creds[i].Name, h.KeyID, err)
			}
		}
	})
}
