package kubeclient

// Third review of the issue 15 fixes: the gated transport.

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

var errNotLeader = errors.New("review15c: not the leader")

// The gate lets a write through without asking when its URL path merely
// contains "/leases": strings.Contains(req.URL.Path, "/leases") is meant
// to spare the election's own Lease writes, but it also spares every
// write to a Secret (sink) or workload whose name starts with "leases",
// and every write in a namespace named "leases..." (the journal's own
// ConfigMaps included, when state.namespace is such a namespace). A
// deposed leader then writes those with no fence at all.
func TestGateSparesWritesWhosePathContainsLeases(t *testing.T) {
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.Path)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x"}}`))
	}))
	defer srv.Close()

	kc := clientcmdapi.NewConfig()
	kc.Clusters["c"] = &clientcmdapi.Cluster{Server: srv.URL}
	kc.AuthInfos["u"] = &clientcmdapi.AuthInfo{Token: "t"}
	kc.Contexts["c"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
	kc.CurrentContext = "c"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(path, 0o600)

	cache := &Cache{Gate: func() (time.Time, error) { return time.Time{}, errNotLeader }}
	cl, err := cache.Client(path, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	writes := []struct{ ns, name string }{
		{"default", "db-credentials"}, // control: refused
		{"default", "leases-api"},     // a Secret sink named leases-*
		{"leases", "db-credentials"},  // a namespace named leases
	}
	for _, w := range writes {
		_, err := cl.CoreV1().Secrets(w.ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: w.name}}, metav1.CreateOptions{})
		if !errors.Is(err, errNotLeader) {
			t.Errorf("a Secret create in namespace %q named %q, with the gate refusing (not the leader), was sent anyway (err %v)", w.ns, w.name, err)
		}
		_, err = cl.CoreV1().Secrets(w.ns).Update(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: w.name}}, metav1.UpdateOptions{})
		if !errors.Is(err, errNotLeader) {
			t.Errorf("a Secret update of %s/%s, with the gate refusing (not the leader), was sent anyway (err %v)", w.ns, w.name, err)
		}
		_, err = cl.CoreV1().ConfigMaps(w.ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "rotatord-journal-0123"}}, metav1.CreateOptions{})
		if !errors.Is(err, errNotLeader) {
			t.Errorf("a journal ConfigMap create in namespace %q, with the gate refusing (not the leader), was sent anyway (err %v)", w.ns, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) > 0 {
		t.Errorf("the API server received these writes from a replica whose gate refused: %v", got)
	}
}
