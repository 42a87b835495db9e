package kubernetes_test

import (
	"context"
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rotatord/rotatord/internal/kubetest"
	"github.com/rotatord/rotatord/sinks"
	ksink "github.com/rotatord/rotatord/sinks/kubernetes"
)

// A Write loses a race to someone else's Secret: it is created between the
// sink's read and its create, or replaces rotatord's Secret between the
// read and the update. The API server refuses the write (409), so the
// secret is nowhere, and the Secret, someone else's, cannot be read as
// rotatord's: without sinks.NothingSent the engine must assume it "may
// hold" the new key and keep that key live, its secret known to nobody,
// the name stuck with two keys. A conflict that leaves a Secret of this
// policy is not marked: the engine reads that one.
func TestWriteThatLosesARaceToSomeoneElsesSecretSaysNothingWasSent(t *testing.T) {
	c := kubetest.Start(t)
	foreign := func(w *world) func() {
		return func() {
			ctx := context.Background()
			secrets := w.admin.CoreV1().Secrets(w.ns)
			_ = secrets.Delete(ctx, "exo-ci-runner", metav1.DeleteOptions{})
			if _, err := secrets.Create(ctx, &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Name: "exo-ci-runner"},
				Data:       map[string][]byte{"api_key": []byte("EXOsomeoneelse"), "api_secret": []byte("theirs")},
			}, metav1.CreateOptions{}); err != nil {
				t.Errorf("someone else's create: %v", err)
			}
		}
	}
	t.Run("create", func(t *testing.T) {
		w := newWorld(t, c)
		s, rec := w.sink(fullRules, nil)
		rec.arm(foreign(w))
		err := w.note(s.Write(ctxT(t), w.cred("ci-runner")))
		if !errors.Is(err, ksink.ErrConflict) {
			t.Fatalf("Write: %v, want ErrConflict", err)
		}
		if !sinks.IsNothingSent(err) {
			t.Errorf("Write refused (409) over someone else's Secret, created meanwhile, is not marked sinks.NothingSent: %v", err)
		}
	})
	t.Run("update", func(t *testing.T) {
		w := newWorld(t, c)
		s, rec := w.sink(fullRules, nil)
		w.mustWrite(s, w.cred("ci-runner"))
		rec.arm(foreign(w))
		err := w.note(s.Write(ctxT(t), w.cred("ci-runner")))
		if !errors.Is(err, ksink.ErrConflict) {
			t.Fatalf("Write: %v, want ErrConflict", err)
		}
		if !sinks.IsNothingSent(err) {
			t.Errorf("Write refused (409) over someone else's Secret, replacing rotatord's meanwhile, is not marked sinks.NothingSent: %v", err)
		}
		if got := w.get("exo-ci-runner"); string(got.Data["api_key"]) != "EXOsomeoneelse" {
			t.Errorf("someone else's Secret was overwritten: api_key %q", got.Data["api_key"])
		}
	})
	t.Run("still this policy's", func(t *testing.T) {
		w := newWorld(t, c)
		s, rec := w.sink(fullRules, nil)
		w.mustWrite(s, w.cred("ci-runner"))
		rec.arm(func() {
			sec := w.get("exo-ci-runner")
			sec.Labels["team"] = "ci"
			if _, err := w.admin.CoreV1().Secrets(w.ns).Update(context.Background(), sec, metav1.UpdateOptions{}); err != nil {
				t.Errorf("concurrent update: %v", err)
			}
		})
		err := w.note(s.Write(ctxT(t), w.cred("ci-runner")))
		if !errors.Is(err, ksink.ErrConflict) || sinks.IsNothingSent(err) {
			t.Errorf("Write with a concurrent change to this policy's Secret: %v, want ErrConflict, unmarked (the engine reads the Secret)", err)
		}
	})
}
