package kubernetes_test

// A StatefulSet partitioned after the probe (or found so when a rotation
// is resumed, which does not probe again): the write's restart fails, the
// engine keeps both keys and writes again on each later pass. Each of
// those restarts must not roll the pods at or above the partition again
// (and again) while the others keep the old key: the pod template is left
// as it is.

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rotatord/rotatord/internal/kubetest"
	ksink "github.com/rotatord/rotatord/sinks/kubernetes"
)

func TestWriteDoesNotRestartAPartitionedStatefulSet(t *testing.T) {
	t.Parallel()
	c := kubetest.Start(t)
	w := newWorld(t, c)
	ctx := ctxT(t)
	sel, tmpl := podTemplate("db")
	replicas, partition := int32(3), int32(2)
	apps := w.admin.AppsV1()
	if _, err := apps.StatefulSets(w.ns).Create(ctx, &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec: appsv1.StatefulSetSpec{Replicas: &replicas, Selector: sel, Template: tmpl,
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: &partition}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	s, _ := w.sink(fullRules, func(o *ksink.Options) { o.Restart = []ksink.Workload{{Kind: "StatefulSet", Name: "db"}} })
	if err := w.note(s.Write(ctx, w.cred("ci-runner"))); err == nil {
		t.Fatal("Write with a partitioned StatefulSet to restart succeeded")
	}
	ss, err := apps.StatefulSets(w.ns).Get(ctx, "db", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if at, ok := ss.Spec.Template.Annotations[ksink.RestartedAtKey]; ok {
		t.Errorf("the partitioned StatefulSet's pod template was patched (%s=%s): its pods at or above the partition restart on every write", ksink.RestartedAtKey, at)
	}
}
