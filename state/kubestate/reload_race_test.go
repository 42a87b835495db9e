package kubestate_test

// Third review of the issue 15 fixes: Store.Reload replaces the whole
// in-memory journal with what its List returned, however old that answer
// is. daemon.refreshStandbyJournals (run by Reload on a replica that was
// a standby when the reload began) may thus overwrite the journal of a
// replica that became the leader while the List was in flight, and has
// written since.

import (
	"context"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/rotatord/rotatord/internal/kubetest"
	"github.com/rotatord/rotatord/rotation"
	"github.com/rotatord/rotatord/state"
	"github.com/rotatord/rotatord/state/kubestate"
)

// slowList answers ConfigMap Lists from the API server at once, but hands
// the answer back only when release is closed (a loaded API server, a
// slow network: the List is seconds in flight).
type slowList struct {
	kubernetes.Interface
	hold    chan struct{} // non-nil: the next List waits
	listed  chan struct{}
	release chan struct{}
	once    sync.Once
}

func (s *slowList) CoreV1() typedcorev1.CoreV1Interface { return slowCore{s.Interface.CoreV1(), s} }

type slowCore struct {
	typedcorev1.CoreV1Interface
	s *slowList
}

func (c slowCore) ConfigMaps(ns string) typedcorev1.ConfigMapInterface {
	return slowCMs{c.CoreV1Interface.ConfigMaps(ns), c.s}
}

type slowCMs struct {
	typedcorev1.ConfigMapInterface
	s *slowList
}

func (c slowCMs) List(ctx context.Context, o metav1.ListOptions) (*corev1.ConfigMapList, error) {
	l, err := c.ConfigMapInterface.List(ctx, o)
	if c.s.hold != nil {
		c.s.once.Do(func() { // the first List only
			close(c.s.listed)
			<-c.s.release
		})
	}
	return l, err
}

// The replica's reload began as a standby: it refreshes the journal
// (List in flight). Meanwhile it takes the Lease and, as the leader,
// starts a rotation of ci/runner (Put). The refresh's answer then lands:
// the in-memory journal forgets the rotation. The reload's stranding
// check (against that journal) accepts a policy file without policy ci,
// which strands the leader's own rotation, and the leader's next write of
// that record fails as if someone else had written it.
func TestStandbyRefreshOverwritesTheNewLeadersWrites(t *testing.T) {
	w := newWorld(t, kubetest.Start(t))
	client := &slowList{Interface: w.c.Client(t, user)}
	s, err := kubestate.Open(ctxT(t), client, w.ns, account, false)
	if err != nil {
		t.Fatal(err)
	}
	client.hold, client.listed, client.release = make(chan struct{}), make(chan struct{}), make(chan struct{})
	reloaded := make(chan error, 1)
	go func() { reloaded <- s.Reload(context.Background()) }()
	<-client.listed

	// Now the leader: a rotation of ci/runner begins.
	r := inFlight(rec("ci", "runner", "EXOold"), "EXOnew")
	mustPut(t, s, r)
	close(client.release)
	if err := <-reloaded; err != nil {
		t.Fatal(err)
	}

	if _, ok := s.Get("ci", "runner"); !ok {
		t.Errorf("after the refresh's late answer, the journal no longer holds the rotation of ci/runner the leader had written (the API server does)")
	}
	if err := rotation.Stranded(s, nil); err == nil {
		t.Errorf("a policy file without policy ci passes the stranding check, while ci/runner's rotation is in flight in the API server")
	}
	r.Rotation.Phase = state.PhaseDelivered
	if err := s.Put(r); err != nil {
		t.Errorf("the leader's next write of its own record fails: %v", err)
	}
}
