package kubernetes_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rotatord/rotatord/internal/kubetest"
	"github.com/rotatord/rotatord/sinks"
	ksink "github.com/rotatord/rotatord/sinks/kubernetes"
)

// TestSecretControlledByAnotherControllerIsNeverWritten: a Secret whose
// ownerReferences name another controller (controller: true: an
// ExternalSecret, a SealedSecret, an operator's custom resource) is that
// controller's to reconcile, whatever labels it carries (a controller
// copying a template's labels copies rotatord's marks too) and whether or
// not the sink says take_over. Before, the probe passed and the write
// went through: the controller puts its own data back on its next
// reconcile, and once the grace period ends the key it puts back is the
// deleted one (an outage); and a delete of the owner deletes the Secret
// (garbage collection). It is refused at the probe, before any key is
// created, and by Write as sinks.NothingSent, with the owner named.
func TestSecretControlledByAnotherControllerIsNeverWritten(t *testing.T) {
	c := kubetest.Start(t)
	for _, tt := range []struct {
		give     string
		marks    bool
		takeOver bool
	}{
		{"with rotatord's marks", true, false},
		{"with take_over", false, true},
		{"with rotatord's marks and take_over", true, true},
	} {
		t.Run(tt.give, func(t *testing.T) {
			w := newWorld(t, c)
			ctx := ctxT(t)
			owner, err := w.admin.CoreV1().ConfigMaps(w.ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "external-secret"}}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			yes := true
			meta := metav1.ObjectMeta{Name: "exo-ci-1", OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "v1", Kind: "ConfigMap", Name: owner.Name, UID: owner.UID, Controller: &yes,
			}}}
			if tt.marks {
				meta.Labels = map[string]string{ksink.ManagedByLabel: ksink.ManagedByValue}
				meta.Annotations = map[string]string{ksink.PolicyKey: policy}
			}
			w.createSecret(&corev1.Secret{ObjectMeta: meta, Data: map[string][]byte{"api_key": []byte("EXOtheirs"), "api_secret": []byte("theirs")}})
			s, rec := w.sink(fullRules, func(o *ksink.Options) { o.TakeOver = tt.takeOver })
			for i := 0; i < 50; i++ { // RBAC applies through an informer
				if err = w.note(s.Probe(ctx, "ci-1")); err == nil || !strings.Contains(err.Error(), "RBAC") {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if err == nil || !strings.Contains(err.Error(), "ConfigMap external-secret") {
				t.Errorf("Probe of a Secret another controller controls: %v; want a refusal naming ConfigMap external-secret", err)
			}
			rec.reset()
			err = w.note(s.Write(ctx, w.cred("ci-1")))
			if err == nil {
				t.Fatalf("Write over a Secret another controller controls succeeded")
			}
			if got := rec.writes(); len(got) != 0 {
				t.Errorf("Write sent %v", got)
			}
			if !sinks.IsNothingSent(err) || !errors.Is(err, ksink.ErrNotManaged) {
				t.Errorf("Write: %v; want ErrNotManaged marked sinks.NothingSent", err)
			}
			if got := string(w.get("exo-ci-1").Data["api_key"]); got != "EXOtheirs" {
				t.Errorf("the Secret holds %s; want EXOtheirs, as the controller left it", got)
			}
		})
	}
}
