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

// TestWriteRefusedBeforeSendingSaysNothingWasSent: a Write that refuses
// the Secret it read (someone else's, created between the probe and the
// write; or immutable) sends no secret anywhere, and says so
// (sinks.NothingSent), as the Vault sink does. Without the mark the engine
// cannot roll the new key back: the Secret it cannot read as rotatord's
// "may hold anything", so the key it created moments ago is kept, live,
// its secret known to nobody, and the name's rotation is stuck with two
// keys until someone fixes the Secret.
func TestWriteRefusedBeforeSendingSaysNothingWasSent(t *testing.T) {
	c := kubetest.Start(t)
	for _, tt := range []struct {
		give   string
		secret *corev1.Secret
		want   string
	}{
		{"someone else's Secret", &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "exo-ci-1"},
			Data:       map[string][]byte{"api_key": []byte("EXOtheirs"), "api_secret": []byte("theirs")},
		}, "not managed by rotatord"},
		{"an immutable Secret", &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "exo-ci-1",
				Labels:      map[string]string{ksink.ManagedByLabel: ksink.ManagedByValue},
				Annotations: map[string]string{ksink.PolicyKey: policy}},
			Immutable: ptrTrue(),
			Data:      map[string][]byte{"api_key": []byte("EXOold"), "api_secret": []byte("old")},
		}, "immutable"},
	} {
		t.Run(tt.give, func(t *testing.T) {
			w := newWorld(t, c)
			s, rec := w.sink(fullRules, nil)
			ctx := ctxT(t)
			var err error
			for i := 0; i < 50; i++ { // RBAC applies through an informer
				if err = w.note(s.Probe(ctx, "ci-1")); err == nil || !strings.Contains(err.Error(), "RBAC") {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if err != nil {
				t.Fatalf("Probe before the Secret exists: %v", err)
			}
			// The Secret appears after the probe, before the write.
			w.createSecret(tt.secret)
			rec.reset()
			err = w.note(s.Write(ctx, w.cred("ci-1")))
			switch {
			case err == nil:
				t.Fatalf("Write over %s succeeded", tt.give)
			case !strings.Contains(err.Error(), tt.want):
				t.Errorf("Write: %v; want an error saying %q", err, tt.want)
			}
			if got := rec.writes(); len(got) != 0 {
				t.Fatalf("Write sent %v: the premise (nothing sent) does not hold", got)
			}
			if !sinks.IsNothingSent(err) {
				t.Errorf("Write over %s sent nothing but its error is not marked sinks.NothingSent: %v", tt.give, err)
			}
			if tt.want == "not managed by rotatord" && !errors.Is(err, ksink.ErrNotManaged) {
				t.Errorf("Write: %v; want ErrNotManaged kept through the mark", err)
			}
		})
	}
}

func ptrTrue() *bool { b := true; return &b }
