package kubernetes_test

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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
			fail := admissionv1.Fail
			vap := &admissionv1.ValidatingAdmissionPolicy{
				ObjectMeta: metav1.ObjectMeta{Name: "quote-" + w.ns},
				Spec: admissionv1.ValidatingAdmissionPolicySpec{
					FailurePolicy: &fail,
					MatchConstraints: &admissionv1.MatchResources{ResourceRules: []admissionv1.NamedRuleWithOperations{{
						RuleWithOperations: admissionv1.RuleWithOperations{
							Operations: []admissionv1.OperationType{admissionv1.Create, admissionv1.Update},
							Rule:       admissionv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"secrets"}},
						},
					}}},
					Validations: []admissionv1.Validation{{
						Expression:        `!has(object.data) || !('` + field + `' in object.data) || size(object.data['` + field + `']) == 0`,
						MessageExpression: `'refused: ` + field + ` is ' + string(object.data['` + field + `']) + '.'`,
					}},
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
					ValidationActions: []admissionv1.ValidationAction{admissionv1.Deny},
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
