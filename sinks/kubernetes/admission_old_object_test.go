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
	ksink "github.com/rotatord/rotatord/sinks/kubernetes"
)

// TestAdmissionRefusalQuotingTheOldObjectIsNotShown: an update's
// admission sees oldObject too (the Secret as it is: the old key's
// secret, still live until the grace period ends), and a policy's message
// may quote it. The probe's dry-run update carries placeholders for
// rotatord's keys and the Write's update the new values, so hiding only
// what the request carried left the old secret in the Probe's and the
// Write's error (logged, kept as the journal's LastError).
func TestAdmissionRefusalQuotingTheOldObjectIsNotShown(t *testing.T) {
	c := kubetest.Start(t)
	w := newWorld(t, c)
	ctx := ctxT(t)
	const old = "old-secret-still-live-0123456789"
	w.createSecret(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "exo-ci-1",
		Labels:      map[string]string{ksink.ManagedByLabel: ksink.ManagedByValue},
		Annotations: map[string]string{ksink.PolicyKey: policy, ksink.KeyIDKey: "EXOold"}},
		Data: map[string][]byte{"api_key": []byte("EXOold"), "api_secret": []byte(old)}})
	admissionPolicy(t, w, "quote-old-", []admissionv1.OperationType{admissionv1.Update}, admissionv1.Validation{
		Expression:        `false`,
		MessageExpression: `'refused: was ' + string(oldObject.data['api_secret']) + '.'`,
	}, admissionv1.Deny)
	s, _ := w.sink(fullRules, nil)
	shown := []string{old, base64.StdEncoding.EncodeToString([]byte(old))}
	// The policy and the binding apply through informers.
	var err error
	for deadline := time.Now().Add(30 * time.Second); ; {
		err = s.Probe(ctx, "ci-1")
		if err != nil && strings.Contains(err.Error(), "refused") || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("the admission policy never refused the probe: %v", err)
	}
	t.Logf("Probe: %v", err)
	for _, sv := range shown {
		if strings.Contains(err.Error(), sv) {
			t.Errorf("the Probe's error shows the Secret's old secret: %v", err)
		}
	}
	err = s.Write(ctx, w.cred("ci-1"))
	if err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("the admission policy did not refuse the Write: %v", err)
	}
	t.Logf("Write: %v", err)
	for _, sv := range shown {
		if strings.Contains(err.Error(), sv) {
			t.Errorf("the Write's error shows the Secret's old secret: %v", err)
		}
	}
}
