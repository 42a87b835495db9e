package kubestate_test

// Review of issue 15: the journal with the RBAC deploy/kubernetes-ha ships.

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"slices"
	"sync/atomic"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"

	"github.com/rotatord/rotatord/internal/kubetest"
	"github.com/rotatord/rotatord/state"
	"github.com/rotatord/rotatord/state/kubestate"
)

// shippedJournalRules returns the configmaps rules of Role rotatord in
// deploy/kubernetes-ha/rbac.yaml: what rotatord may do to its journal in
// production.
func shippedJournalRules(t *testing.T) []rbacv1.PolicyRule {
	t.Helper()
	b, err := os.ReadFile("../../deploy/kubernetes-ha/rbac.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	var out []rbacv1.PolicyRule
	for {
		var role rbacv1.Role
		if err := dec.Decode(&role); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if role.Kind != "Role" || role.Name != "rotatord" {
			continue
		}
		for _, r := range role.Rules {
			if slices.Contains(r.Resources, "configmaps") {
				out = append(out, r)
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("no configmaps rule in Role rotatord of deploy/kubernetes-ha/rbac.yaml")
	}
	return out
}

// A write whose answer was lost (the API server restarted after etcd had
// it; a connection reset) is recognised by reading the object back
// (ownWrite: a GET of the ConfigMap). The shipped Role grants list,
// create, update and delete on configmaps, but no get: the read is
// forbidden, the lost write is taken for another writer's, and every
// later write of that record fails with ErrChanged for the rest of the
// leadership (nothing reloads the journal on ErrChanged), so the
// rotation of that key name is stuck mid-way.
func TestLostAnswerWithShippedRBAC(t *testing.T) {
	c := kubetest.Start(t)
	ns := "review15-journal"
	c.CreateNamespace(t, ns)
	c.Grant(t, user, ns, shippedJournalRules(t))

	lose := &atomic.Bool{}
	cfg := c.RestConfig(user)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			resp, err := rt.RoundTrip(req)
			if err == nil && req.Method != http.MethodGet && lose.CompareAndSwap(true, false) {
				resp.Body.Close()
				return nil, errors.New("connection reset by peer (test: answer lost)")
			}
			return resp, err
		})
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s, err := kubestate.Open(ctxT(t), client, ns, account, false)
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, rec("ci", "ci-runner", "EXO1"))
	// The intent of a rotation: its answer is lost, but etcd has it.
	lose.Store(true)
	if err := s.Put(inFlight(rec("ci", "ci-runner", "EXO1"), "EXO2")); err == nil {
		t.Fatal("Put with a lost answer: nil error")
	}
	// The next step of the same rotation, by the same (still leading)
	// process: nobody else wrote.
	next := inFlight(rec("ci", "ci-runner", "EXO1"), "EXO2")
	next.Rotation.Phase = state.PhaseDelivered
	if err := s.Put(next); err != nil {
		t.Errorf("Put after a write whose answer was lost, with deploy/kubernetes-ha's RBAC: %v", err)
	}
}
