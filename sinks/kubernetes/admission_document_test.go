package kubernetes_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"text/template"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/rotatord/rotatord/internal/kubetest"
	"github.com/rotatord/rotatord/sinks/file"
	ksink "github.com/rotatord/rotatord/sinks/kubernetes"
)

// TestAdmissionRefusalQuotingTheDocumentEscapedIsNotShown: a webhook's
// message is its author's text; one that decodes the Secret and quotes a
// data value escaped (Go's %q, JSON: a document's newlines as \n) shows
// neither the value as sent nor its base64, but the secret inside it in
// clear. The refusal here is the webhook's answer as the API server
// passes it on (a Status, 403), quoting the env document the create
// carried. The Write's error (logged, kept as LastError) must not show the
// secret.
func TestAdmissionRefusalQuotingTheDocumentEscapedIsNotShown(t *testing.T) {
	c := kubetest.Start(t)
	w := newWorld(t, c)
	w.c.Grant(t, user, w.ns, fullRules)
	// The document the create carries (its body may be protobuf).
	cred := w.cred("ci-1")
	doc, err := file.Render("env", cred)
	if err != nil {
		t.Fatal(err)
	}
	cfg := w.c.RestConfig(user)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			if req.Method != http.MethodPost || !strings.HasSuffix(req.URL.Path, "/secrets") || req.Body == nil {
				return rt.RoundTrip(req)
			}
			if _, err := io.ReadAll(req.Body); err != nil {
				return nil, err
			}
			st := metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusFailure,
				Reason: metav1.StatusReasonForbidden, Code: http.StatusForbidden,
				Message: fmt.Sprintf("admission webhook %q denied the request: creds %q must not hold a secret", "deny.example.com", doc)}
			out, err := json.Marshal(st)
			if err != nil {
				return nil, err
			}
			return &http.Response{StatusCode: http.StatusForbidden, Header: http.Header{"Content-Type": {"application/json"}},
				Body: io.NopCloser(bytes.NewReader(out)), Request: req}, nil
		})
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ksink.New(ksink.Options{Client: cs, Namespace: w.ns, Policy: policy, Format: "env", Key: "creds",
		Name: template.Must(template.New("name").Parse("exo-{{.Name}}"))})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Write(ctxT(t), cred)
	if err == nil || !strings.Contains(err.Error(), "denied the request") {
		t.Fatalf("Write: %v, want the webhook's refusal", err)
	}
	t.Logf("Write: %v", err)
	if strings.Contains(err.Error(), cred.Secret.Reveal()) {
		t.Errorf("the Write's error shows the secret: %v", err)
	}
}
