package kubernetes_test

import (
	"strings"
	"testing"
	"text/template"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rotatord/rotatord/internal/kubetest"
	ksink "github.com/rotatord/rotatord/sinks/kubernetes"
)

// TestAudit4ProbeRefusesAMissingNamespace: the probe runs before any key
// is created, so that a sink that cannot take the key costs none. With a
// namespace that does not exist (a typo in the policy file) and rights
// granted cluster-wide, the GET of the Secret answers 404 (read as "no
// Secret yet") and the access review allows create, so the probe passes
// (and `validate --online` prints "ok"): every pass then creates a key,
// fails the create of the Secret (namespaces "..." not found) and deletes
// the key again.
func TestAudit4ProbeRefusesAMissingNamespace(t *testing.T) {
	c := kubetest.Start(t)
	const u = "rotatord-3"
	admin := c.Client(t, kubetest.Admin)
	ctx := ctxT(t)
	cr := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "audit4-secrets"}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "create", "update"}},
	}}
	if _, err := admin.RbacV1().ClusterRoles().Create(ctx, cr, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "audit4-secrets"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "audit4-secrets"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: u}},
	}
	if _, err := admin.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, c: c, ns: "audit4-no-such-namespace", admin: admin}
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
	if perr := w.note(s.Probe(ctx, "ci-1")); perr == nil {
		t.Errorf("Probe passed for a Secret in namespace %s, which does not exist (a key would be created, and Write fails: %v)", w.ns, werr)
	}
}
