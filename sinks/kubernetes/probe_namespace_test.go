package kubernetes_test

import (
	"strings"
	"testing"
	"text/template"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rotatord/rotatord/internal/kubetest"
	ksink "github.com/rotatord/rotatord/sinks/kubernetes"
)

// TestProbeRefusesAMissingNamespace: the probe runs before any key is
// created, so that a sink that cannot take the key costs none. With a
// namespace that does not exist (a typo in the policy file) and rights
// granted cluster-wide, the GET of the Secret answers 404 (read as "no
// Secret yet") and the access review allows create: only the probe's
// dry-run create finds the namespace missing. Without it every pass
// created a key, failed the create of the Secret and deleted the key.
func TestProbeRefusesAMissingNamespace(t *testing.T) {
	c := kubetest.Start(t)
	const u = "rotatord-3"
	admin := c.Client(t, kubetest.Admin)
	ctx := ctxT(t)
	cr := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "probe-namespace-secrets"}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "create", "update"}},
	}}
	if _, err := admin.RbacV1().ClusterRoles().Create(ctx, cr, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "probe-namespace-secrets"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "probe-namespace-secrets"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: u}},
	}
	if _, err := admin.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, c: c, ns: "no-such-namespace", admin: admin}
	t.Cleanup(w.checkErrors)
	cs, _ := w.client(u)
	s, err := ksink.New(ksink.Options{
		Client:    cs,
		Namespace: w.ns,
		Name:      template.Must(template.New("name").Parse("exo-{{.Name}}")),
		Policy:    policy,
		Now:       func() time.Time { return fixedNow },
	})
	if err != nil {
		t.Fatal(err)
	}
	cred := w.cred("ci-1")
	// RBAC applies through an informer: wait until a write is refused for
	// the namespace, not for the rights.
	var werr error
	for i := 0; i < 50; i++ {
		werr = w.note(s.Write(ctx, cred))
		if werr != nil && !strings.Contains(werr.Error(), "forbidden") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("Write: %v", werr)
	perr := w.note(s.Probe(ctx, "ci-1"))
	switch {
	case perr == nil:
		t.Errorf("Probe passed for a Secret in namespace %s, which does not exist (a key would be created, and Write fails: %v)", w.ns, werr)
	case !strings.Contains(perr.Error(), "namespace "+w.ns+" does not exist"):
		t.Errorf("Probe: %v; want an error that names the missing namespace %s", perr, w.ns)
	}
}

// TestProbeDryRunCreatesNothing: in a namespace that exists, the probe's
// dry-run create passes and leaves no Secret behind, for either shape of
// the data (two keys, or one rendered document).
func TestProbeDryRunCreatesNothing(t *testing.T) {
	c := kubetest.Start(t)
	for _, tt := range []struct {
		give   string
		change func(*ksink.Options)
	}{
		{"two data keys", nil},
		{"a rendered document", func(o *ksink.Options) { o.Format, o.Key = "env", "credentials.env" }},
	} {
		t.Run(tt.give, func(t *testing.T) {
			w := newWorld(t, c)
			s, _ := w.sink(fullRules, tt.change)
			ctx := ctxT(t)
			var err error
			for i := 0; i < 50; i++ { // RBAC applies through an informer
				if err = w.note(s.Probe(ctx, "ci-1")); err == nil || !strings.Contains(err.Error(), "RBAC") {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if err != nil {
				t.Fatalf("Probe: %v", err)
			}
			if _, err := w.admin.CoreV1().Secrets(w.ns).Get(ctx, "exo-ci-1", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Errorf("after the probe, GET of the Secret: %v; want 404 (a dry run persists nothing)", err)
			}
		})
	}
}
