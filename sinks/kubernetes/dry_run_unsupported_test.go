package kubernetes_test

// An admission webhook registered before admissionregistration.k8s.io/v1
// (v1beta1 defaulted sideEffects to Unknown, and an upgraded cluster keeps
// it) makes the API server refuse every dry-run request it matches: 400
// "admission webhook ... does not support dry run". The real writes work.
// The probe's dry runs of the Secret's create or update are a check on top
// of the access review; such an answer says nothing about the write, and
// must not fail every probe (no rotation at all, the key aging for ever).

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"k8s.io/client-go/kubernetes"

	"github.com/rotatord/rotatord/internal/kubetest"
	ksink "github.com/rotatord/rotatord/sinks/kubernetes"
)

func TestProbePassesWhenAWebhookCannotTakeDryRuns(t *testing.T) {
	t.Parallel()
	c := kubetest.Start(t)
	w := newWorld(t, c)
	cfg := c.RestConfig(user)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			if req.URL.Query().Get("dryRun") == "" || !strings.Contains(req.URL.Path, "/secrets") {
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
	s, _ := w.sink(fullRules, func(o *ksink.Options) { o.Client = cs })
	ctx := ctxT(t)
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
