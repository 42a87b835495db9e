package kubernetes_test

// A StatefulSet whose rolling update is partitioned (a staged rollout:
// spec.updateStrategy.rollingUpdate.partition) replaces only the pods of
// ordinal at least the partition when its pod template changes: the
// others keep running with the old template, and with the old key they
// read at start, which is deleted when the grace period ends. The probe
// refuses it, as it refuses OnDelete, before a key is created.

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rotatord/rotatord/internal/kubetest"
	ksink "github.com/rotatord/rotatord/sinks/kubernetes"
)

func TestProbeRefusesAPartitionedStatefulSetToRestart(t *testing.T) {
	t.Parallel()
	c := kubetest.Start(t)
	w := newWorld(t, c)
	ctx := ctxT(t)
	apps := w.admin.AppsV1()
	for _, tt := range []struct {
		name      string
		partition int32
		refused   bool
	}{
		{"staged", 2, true},
		{"whole", 0, false},
	} {
		sel, tmpl := podTemplate(tt.name)
		replicas := int32(3)
		if _, err := apps.StatefulSets(w.ns).Create(ctx, &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: tt.name},
			Spec: appsv1.StatefulSetSpec{Replicas: &replicas, Selector: sel, Template: tmpl,
				UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType,
					RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: &tt.partition}}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		s, _ := w.sink(fullRules, func(o *ksink.Options) { o.Restart = []ksink.Workload{{Kind: "StatefulSet", Name: tt.name}} })
		err := w.note(s.Probe(ctx, "ci-runner"))
		switch {
		case tt.refused && (err == nil || !strings.Contains(err.Error(), "partition")):
			t.Errorf("Probe with StatefulSet %s (partition %d of 3 replicas) to restart: %v, want an error naming the partition", tt.name, tt.partition, err)
		case !tt.refused && err != nil:
			t.Errorf("Probe with StatefulSet %s (partition %d) to restart: %v, want nil", tt.name, tt.partition, err)
		}
	}
	if w.secretCount() != 0 {
		t.Errorf("the probe wrote a Secret")
	}
}
