package kubernetes_test

import (
	"encoding/base64"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	"github.com/go-logr/logr/funcr"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"github.com/rotatord/rotatord/internal/kubeclient"
	"github.com/rotatord/rotatord/internal/kubetest"
	"github.com/rotatord/rotatord/sinks/file"
	ksink "github.com/rotatord/rotatord/sinks/kubernetes"
)

// TestAdmissionRefusalQuotingTheSecretIsNotShown: an admission policy's
// refusal message is the policy author's text, and may quote the object
// it refuses (a ValidatingAdmissionPolicy's messageExpression, a
// Kyverno or Gatekeeper message with the request's fields): here a policy
// that lets the probe's dry run (empty data keys) through and refuses
// the real write quoting its api_secret. The Write's error is logged and
// kept in the journal (LastError, a ConfigMap under the Kubernetes
// backend): before, it carried the API server's message as it came, the
// secret in it. It must show neither the secret nor its base64.
func TestAdmissionRefusalQuotingTheSecretIsNotShown(t *testing.T) {
	c := kubetest.Start(t)
	for _, tt := range []struct {
		give     string
		existing bool
		format   string
	}{
		{"create", false, ""},
		{"update", true, ""},
		{"create, one key in a format", false, "env"},
	} {
		t.Run(tt.give, func(t *testing.T) {
			w := newWorld(t, c)
			ctx := ctxT(t)
			field := "api_secret"
			if tt.format != "" {
				field = "creds"
			}
			quotingPolicy(t, w, field, admissionv1.Deny)
			if tt.existing {
				w.createSecret(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "exo-ci-1",
					Labels:      map[string]string{ksink.ManagedByLabel: ksink.ManagedByValue},
					Annotations: map[string]string{ksink.PolicyKey: policy}}})
			}
			s, _ := w.sink(fullRules, func(o *ksink.Options) {
				if tt.format != "" {
					o.Format, o.Key = tt.format, field
				}
			})
			cred := w.cred("ci-1")
			var err error
			// The policy and the binding apply through informers.
			deadline := time.Now().Add(30 * time.Second)
			for {
				err = s.Write(ctx, cred)
				if err != nil && strings.Contains(err.Error(), "refused") || time.Now().After(deadline) {
					break
				}
				if err == nil {
					// Landed before the policy applied: start over.
					if derr := w.admin.CoreV1().Secrets(w.ns).Delete(ctx, "exo-ci-1", metav1.DeleteOptions{}); derr != nil {
						t.Fatal(derr)
					}
					if tt.existing {
						w.createSecret(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "exo-ci-1",
							Labels:      map[string]string{ksink.ManagedByLabel: ksink.ManagedByValue},
							Annotations: map[string]string{ksink.PolicyKey: policy}}})
					}
				}
				time.Sleep(200 * time.Millisecond)
			}
			if err == nil || !strings.Contains(err.Error(), "refused") {
				t.Fatalf("the admission policy never refused the Write: %v", err)
			}
			t.Logf("Write: %v", err)
			sv := cred.Secret.Reveal()
			shown := []string{sv, base64.StdEncoding.EncodeToString([]byte(sv))}
			if tt.format != "" {
				doc, err := file.Render(tt.format, cred)
				if err != nil {
					t.Fatal(err)
				}
				shown = append(shown, base64.StdEncoding.EncodeToString(doc))
			}
			for _, shown := range shown {
				if strings.Contains(err.Error(), shown) {
					t.Errorf("the Write's error shows the secret (or its base64): %v", err)
				}
			}
		})
	}
}

// quotingPolicy makes a ValidatingAdmissionPolicy, bound in w's namespace
// with action, that refuses a Secret whose data key field is not empty,
// with a message quoting it (what the probe's dry runs send passes).
func quotingPolicy(t *testing.T, w *world, field string, action admissionv1.ValidationAction) {
	t.Helper()
	admissionPolicy(t, w, "quote-", []admissionv1.OperationType{admissionv1.Create, admissionv1.Update}, admissionv1.Validation{
		Expression:        `!has(object.data) || !('` + field + `' in object.data) || size(object.data['` + field + `']) == 0`,
		MessageExpression: `'refused: ` + field + ` is ' + string(object.data['` + field + `']) + '.'`,
	}, action)
}

// admissionPolicy makes a ValidatingAdmissionPolicy named prefix+w.ns
// with one validation of Secrets on ops, bound in w's namespace with
// action, and removes both at the test's end.
func admissionPolicy(t *testing.T, w *world, prefix string, ops []admissionv1.OperationType, validation admissionv1.Validation, action admissionv1.ValidationAction) {
	t.Helper()
	ctx := ctxT(t)
	fail := admissionv1.Fail
	vap := &admissionv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: prefix + w.ns},
		Spec: admissionv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: &fail,
			MatchConstraints: &admissionv1.MatchResources{ResourceRules: []admissionv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionv1.RuleWithOperations{
					Operations: ops,
					Rule:       admissionv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"secrets"}},
				},
			}}},
			Validations: []admissionv1.Validation{validation},
		},
	}
	if _, err := w.admin.AdmissionregistrationV1().ValidatingAdmissionPolicies().Create(ctx, vap, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = w.admin.AdmissionregistrationV1().ValidatingAdmissionPolicies().Delete(ctxT(t), vap.Name, metav1.DeleteOptions{})
	})
	binding := &admissionv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: vap.Name},
		Spec: admissionv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        vap.Name,
			ValidationActions: []admissionv1.ValidationAction{action},
			MatchResources: &admissionv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{"kubernetes.io/metadata.name": w.ns},
			}},
		},
	}
	if _, err := w.admin.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = w.admin.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Delete(ctxT(t), binding.Name, metav1.DeleteOptions{})
	})
}

// TestAdmissionWarningQuotingTheSecretIsNotLogged: a policy bound with the
// action Warn admits the write and answers a warning header with its
// message; client-go logs warnings through klog, which rotatord sends to
// its own log. Before, a message quoting the Secret's data put the new
// key's secret (base64-encoded) in rotatord's log on every delivery that
// succeeded. The client is built as rotatord builds it (kubeclient.Config
// from a kubeconfig); the warning is still logged, with the data hidden.
func TestAdmissionWarningQuotingTheSecretIsNotLogged(t *testing.T) {
	c := kubetest.Start(t)
	w := newWorld(t, c)
	quotingPolicy(t, w, "api_secret", admissionv1.Warn)
	c.Grant(t, user, w.ns, fullRules)
	cfg, err := kubeclient.Config(c.Kubeconfig(t, user), "")
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu     sync.Mutex
		logged []string
	)
	s, err := ksink.New(ksink.Options{Client: cs, Namespace: w.ns, Policy: policy,
		Name: template.Must(template.New("name").Parse("exo-{{.Name}}"))})
	if err != nil {
		t.Fatal(err)
	}
	// The logger goes in the context the sink's requests carry
	// (klog.FromContext), not in klog's global: setting that races with
	// client-go goroutines of other tests still logging.
	ctx := klog.NewContext(ctxT(t), funcr.New(func(prefix, args string) {
		mu.Lock()
		logged = append(logged, prefix+" "+args)
		mu.Unlock()
	}, funcr.Options{}))
	var creds []string
	warned := func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, l := range logged {
			if strings.Contains(l, "refused: api_secret is") {
				return true
			}
		}
		return false
	}
	// The policy and the binding apply through informers.
	for deadline := time.Now().Add(30 * time.Second); !warned() && time.Now().Before(deadline); {
		cred := w.cred("ci-1")
		creds = append(creds, cred.Secret.Reveal())
		for i := 0; i < 50; i++ { // RBAC too
			if err = w.note(s.Write(ctx, cred)); err == nil || !strings.Contains(err.Error(), "forbidden") {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("Write: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !warned() {
		t.Fatalf("no warning of the policy was logged: %q", logged)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, l := range logged {
		for _, sv := range creds {
			if strings.Contains(l, sv) || strings.Contains(l, base64.StdEncoding.EncodeToString([]byte(sv))) {
				t.Errorf("a warning logged shows a secret: %s", l)
			}
		}
	}
}
