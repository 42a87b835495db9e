package kubernetes_test

// Two deliveries that restart the same workload within one second: a
// Deployment that reads two Secrets (one name's two sinks, or two names
// rotated in one pass). The first restart may start pods that read the
// second Secret before it holds the new key; only a second restart makes
// them read it again. A restart annotation with a resolution of a second
// gives the second patch the value the first one set: no change to the
// pod template, no rollout, and those pods keep the old key until it is
// deleted at the end of the grace period.

import (
	"sync"
	"testing"
	"text/template"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rotatord/rotatord/internal/kubetest"
	ksink "github.com/rotatord/rotatord/sinks/kubernetes"
)

func TestRestartsWithinOneSecondEachRollOutTheWorkload(t *testing.T) {
	t.Parallel()
	c := kubetest.Start(t)
	w := newWorld(t, c)
	ctx := ctxT(t)
	sel, tmpl := podTemplate("web")
	deployments := w.admin.AppsV1().Deployments(w.ns)
	if _, err := deployments.Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{Selector: sel, Template: tmpl}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A clock that moves 100 ms at each reading: both restarts fall in
	// the same second.
	var mu sync.Mutex
	now := fixedNow
	tick := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(100 * time.Millisecond)
		return now
	}
	restart := []ksink.Workload{{Kind: "Deployment", Name: "web"}}
	plain, _ := w.sink(fullRules, func(o *ksink.Options) { o.Restart, o.Now = restart, tick })
	env, _ := w.sink(nil, func(o *ksink.Options) {
		o.Name = template.Must(template.New("name").Parse("exo-{{.Name}}-env"))
		o.Format, o.Key, o.Restart, o.Now = "env", ".env", restart, tick
	})
	generation := func() int64 {
		d, err := deployments.Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return d.Generation
	}
	cr := w.cred("ci-runner")
	w.mustWrite(plain, cr)
	first := generation()
	w.mustWrite(env, cr)
	if got := generation(); got == first {
		t.Errorf("the second Secret's restart left the Deployment at generation %d: no rollout after it was written, so pods the first restart started may hold the old key", got)
	}
}
