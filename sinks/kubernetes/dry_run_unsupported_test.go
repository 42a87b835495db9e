package kubernetes_test

// An admission webhook registered before admissionregistration.k8s.io/v1
// (v1beta1 defaulted sideEffects to Unknown, and an upgraded cluster keeps
// it) makes the API server refuse every dry-run request it matches: 400
// "admission webhook ... does not support dry run". The real writes work.
// The probe's dry runs of the Secret's create or update are a check on top
// of the access review; such an answer says nothing about the write, and
// must not fail every probe (no rotation at all, the key aging for ever).
// Likewise the dry-run patch of a workload to restart, when such a webhook
// matches Deployments: the access review for the patch is what is left.

import (
	"io"
	"net/http"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/rotatord/rotatord/internal/kubetest"
	ksink "github.com/rotatord/rotatord/sinks/kubernetes"
)

// noDryRunClient is a clientset for user whose dry-run requests the API
// server refuses as it does for a webhook with side effects.
func noDryRunClient(t *testing.T, c *kubetest.Cluster) kubernetes.Interface {
	t.Helper()
	cfg := c.RestConfig(user)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			if req.URL.Query().Get("dryRun") == "" {
				return rt.RoundTrip(req)
			}
			// kube-apiserver's answer (webhookerrors.NewDryRunUnsupportedErr).
			status := `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"admission webhook \"legacy.example.com\" does not support dry run","reason":"BadRequest","code":400}`
			return &http.Response{
				StatusCode: http.StatusBadRequest,
				Header:     http.Header{"Content-Type": []string{"application/json"}},
				Body:       io.NopCloser(strings.NewReader(status)),
				Request:    req,
			}, nil
		})
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func TestProbePassesWhenAWebhookCannotTakeDryRuns(t *testing.T) {
	t.Parallel()
	c := kubetest.Start(t)
	w := newWorld(t, c)
	ctx := ctxT(t)
	sel, tmpl := podTemplate("web")
	if _, err := w.admin.AppsV1().Deployments(w.ns).Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{Selector: sel, Template: tmpl}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cs := noDryRunClient(t, c)
	s, _ := w.sink(fullRules, func(o *ksink.Options) {
		o.Client = cs
		o.Restart = []ksink.Workload{{Kind: "Deployment", Name: "web"}}
	})
	if err := w.note(s.Probe(ctx, "ci-runner")); err != nil {
		t.Errorf("Probe of a Secret to create, a webhook refusing dry runs: %v; want it to pass (the create works)", err)
	}
	c1 := w.cred("ci-runner")
	if err := w.note(s.Write(ctx, c1)); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if err := w.note(s.Probe(ctx, "ci-runner")); err != nil {
		t.Errorf("Probe of an existing Secret, a webhook refusing dry runs: %v; want it to pass (the update works)", err)
	}
	if err := w.note(s.Write(ctx, w.cred("ci-runner"))); err != nil {
		t.Errorf("Write over the existing Secret: %v", err)
	}
}

// Without the dry run, RBAC still decides: a workload rotatord may not
// patch fails the probe.
func TestProbeWithoutDryRunsStillChecksTheRestartRBAC(t *testing.T) {
	t.Parallel()
	c := kubetest.Start(t)
	w := newWorld(t, c)
	cs := noDryRunClient(t, c)
	s, _ := w.sink(fullRules[:1], func(o *ksink.Options) {
		o.Client = cs
		o.Restart = []ksink.Workload{{Kind: "Deployment", Name: "web"}}
	})
	err := w.note(s.Probe(ctxT(t), "ci-runner"))
	if err == nil || !strings.Contains(err.Error(), "RBAC does not allow patch") {
		t.Errorf("Probe, the restart's patch not allowed and dry runs refused: %v; want the RBAC refusal", err)
	}
}
