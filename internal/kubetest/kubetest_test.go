package kubetest_test

import (
	"context"
	"os"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/rotatord/rotatord/internal/kubetest"
)

func TestCluster(t *testing.T) {
	t.Parallel()
	c := kubetest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	const ns = "rotatord-test"
	c.CreateNamespace(t, ns)
	admin := c.Client(t, kubetest.Admin)
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "exoscale", Namespace: ns},
		StringData: map[string]string{"key": "EXO123"},
	}
	if _, err := admin.CoreV1().Secrets(ns).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatalf("admin creates a secret: %v", err)
	}

	// A plain user is authenticated but has no right until Grant.
	user := c.Client(t, "rotatord")
	if _, err := user.CoreV1().Secrets(ns).Get(ctx, "exoscale", metav1.GetOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("plain user gets the secret: err = %v, want Forbidden", err)
	}
	c.Grant(t, "rotatord", ns, []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "update"}},
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "create", "update"}},
	})
	got, err := user.CoreV1().Secrets(ns).Get(ctx, "exoscale", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("granted user gets the secret: %v", err)
	}
	if string(got.Data["key"]) != "EXO123" {
		t.Fatalf("secret data = %q", got.Data)
	}
	// The grant is per user and namespace.
	if _, err := c.Client(t, "outsider").CoreV1().Secrets(ns).Get(ctx, "exoscale", metav1.GetOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("outsider gets the secret: err = %v, want Forbidden", err)
	}

	// A kubeconfig file works for the same user, trusting the server's CA.
	path := c.Kubeconfig(t, "rotatord")
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("kubeconfig %s: %v, %v", path, fi.Mode(), err)
	}
	rc, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	if rc.Insecure || len(rc.CAData) == 0 {
		t.Fatalf("kubeconfig: insecure=%v, %d bytes of CA", rc.Insecure, len(rc.CAData))
	}

	// The same clients work again once the API server is back.
	c.RestartAPIServer(t)
	got.StringData = map[string]string{"key": "EXO456"}
	if _, err := user.CoreV1().Secrets(ns).Update(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update after restart: %v", err)
	}
	if got, err := admin.CoreV1().Secrets(ns).Get(ctx, "exoscale", metav1.GetOptions{}); err != nil || string(got.Data["key"]) != "EXO456" {
		t.Fatalf("admin reads after restart: %v, %v", got, err)
	}

	holder, secs := "rotatord-a", int32(15)
	lease := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "rotatord", Namespace: ns},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &secs},
	}
	if _, err := user.CoordinationV1().Leases(ns).Create(ctx, lease, metav1.CreateOptions{}); err != nil {
		t.Fatalf("granted user creates a lease: %v", err)
	}
}

// Clusters started in parallel each get their own ports.
func TestParallel(t *testing.T) {
	for _, name := range []string{"a", "b"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := kubetest.Start(t)
			c.CreateNamespace(t, "ns-"+name)
		})
	}
}
