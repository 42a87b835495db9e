package kubernetes_test

// A Deployment to restart that is paused (`kubectl rollout pause`): the
// restart annotation changes its pod template, but a paused Deployment
// rolls nothing out (`kubectl rollout restart` refuses it for that). Its
// pods, which read the Secret at start, keep the old key, which is
// deleted when the grace period ends. The probe must refuse it, before a
// key is created, as it refuses a workload it cannot patch.

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rotatord/rotatord/internal/kubetest"
	ksink "github.com/rotatord/rotatord/sinks/kubernetes"
)

func TestProbeRefusesAPausedDeploymentToRestart(t *testing.T) {
	t.Parallel()
	c := kubetest.Start(t)
	w := newWorld(t, c)
	ctx := ctxT(t)
	sel, tmpl := podTemplate("web")
	if _, err := w.admin.AppsV1().Deployments(w.ns).Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{Paused: true, Selector: sel, Template: tmpl}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	s, _ := w.sink(fullRules, func(o *ksink.Options) { o.Restart = []ksink.Workload{{Kind: "Deployment", Name: "web"}} })
	err := w.note(s.Probe(ctx, "ci-runner"))
	if err == nil || !strings.Contains(err.Error(), "paused") {
		t.Errorf("Probe with a paused Deployment to restart: %v, want an error saying it is paused", err)
	}
	if w.secretCount() != 0 {
		t.Errorf("the probe wrote a Secret")
	}
}

// A StatefulSet or DaemonSet whose update strategy is OnDelete replaces a
// pod only when someone deletes it: the restart annotation changes the
// pod template and restarts nothing, so the probe refuses it as it
// refuses a paused Deployment.
func TestProbeRefusesAnOnDeleteWorkloadToRestart(t *testing.T) {
	t.Parallel()
	c := kubetest.Start(t)
	w := newWorld(t, c)
	ctx := ctxT(t)
	sel, tmpl := podTemplate("db")
	apps := w.admin.AppsV1()
	if _, err := apps.StatefulSets(w.ns).Create(ctx, &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec: appsv1.StatefulSetSpec{Selector: sel, Template: tmpl,
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := apps.DaemonSets(w.ns).Create(ctx, &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "agent"},
		Spec: appsv1.DaemonSetSpec{Selector: sel, Template: tmpl,
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, wl := range []ksink.Workload{{Kind: "StatefulSet", Name: "db"}, {Kind: "DaemonSet", Name: "agent"}} {
		s, _ := w.sink(fullRules, func(o *ksink.Options) { o.Restart = []ksink.Workload{wl} })
		err := w.note(s.Probe(ctx, "ci-runner"))
		if err == nil || !strings.Contains(err.Error(), "OnDelete") {
			t.Errorf("Probe with %s %s (update strategy OnDelete) to restart: %v, want an error naming OnDelete", wl.Kind, wl.Name, err)
		}
	}
}

// podTemplate is the selector and pod template of a workload app, one
// container whose image is never pulled (the test cluster has no nodes).
func podTemplate(app string) (*metav1.LabelSelector, corev1.PodTemplateSpec) {
	labels := map[string]string{"app": app}
	return &metav1.LabelSelector{MatchLabels: labels}, corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: app, Image: "registry.invalid/" + app + ":1"}}},
	}
}
