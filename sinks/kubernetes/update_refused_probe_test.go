package kubernetes_test

// An admission policy (a ValidatingAdmissionPolicy, or a webhook) that
// refuses updates of the Secret: RBAC allows the update, so the access
// review passes, and without a dry run of the update the probe passed too.
// Each rotation then created a key, failed to deliver it and deleted it
// again. The probe dry-runs the update, as it dry-runs a create, so such
// a sink costs no key.

import (
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rotatord/rotatord/internal/kubetest"
)

func TestProbeRefusesASecretWhoseUpdateAdmissionRefuses(t *testing.T) {
	t.Parallel()
	c := kubetest.Start(t)
	w := newWorld(t, c)
	s, rec := w.sink(fullRules, nil)
	w.mustWrite(s, w.cred("ci-runner"))
	ctx := ctxT(t)

	name := "no-secret-updates-" + w.ns
	fail := admissionv1.Fail
	if _, err := w.admin.AdmissionregistrationV1().ValidatingAdmissionPolicies().Create(ctx, &admissionv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: &fail,
			MatchConstraints: &admissionv1.MatchResources{ResourceRules: []admissionv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionv1.RuleWithOperations{
					Operations: []admissionv1.OperationType{admissionv1.Update},
					Rule:       admissionv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"secrets"}},
				},
			}}},
			Validations: []admissionv1.Validation{{Expression: "false", Message: "Secrets are changed through Git only"}},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.admin.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Create(ctx, &admissionv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        name,
			ValidationActions: []admissionv1.ValidationAction{admissionv1.Deny},
			MatchResources: &admissionv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{"kubernetes.io/metadata.name": w.ns}}},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The policy takes effect once the API server has loaded it: wait
	// until a real write is refused.
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := s.Write(ctx, w.cred("ci-runner"))
		if err != nil && strings.Contains(err.Error(), "Git only") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the admission policy never refused a write (last: %v)", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	rec.reset()
	err := w.note(s.Probe(ctx, "ci-runner"))
	if err == nil || !strings.Contains(err.Error(), "Git only") {
		t.Errorf("Probe of a Secret whose updates admission refuses: %v, want the refusal", err)
	}
	if ws := rec.writes(); len(ws) != 0 {
		t.Errorf("the probe wrote %v", ws)
	}
}
