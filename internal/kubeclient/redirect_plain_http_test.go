package kubeclient

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// TestRedirectToPlainHTTPOnTheNetworkIsNotFollowed: a server that answers
// a request (a Secret's write carries the new API secret) with a redirect
// to plain http on a host that is not loopback must not lead the client
// there, as a kubeconfig naming such a server is refused: the Secret and
// the token would cross the network in clear. The dialer records where the
// client connects, and takes it to the test server whatever the address.
func TestRedirectToPlainHTTPOnTheNetworkIsNotFollowed(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.Host, "127.0.0.1") {
			http.Redirect(w, r, "http://192.0.2.9:8080"+r.URL.Path, http.StatusTemporaryRedirect)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"kind":"Secret","apiVersion":"v1","metadata":{"name":"x","namespace":"ns"}}`))
	}))
	defer srv.Close()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	doc := "apiVersion: v1\nkind: Config\n" +
		"clusters: [{name: c, cluster: {server: \"" + srv.URL + "\"}}]\n" +
		"users: [{name: u, user: {token: abc}}]\n" +
		"contexts: [{name: x, context: {cluster: c, user: u}}]\n" +
		"current-context: x\n"
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Config(path, "")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var dialed []string
	cfg.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		mu.Lock()
		dialed = append(dialed, addr)
		mu.Unlock()
		var d net.Dialer
		return d.DialContext(ctx, network, srv.Listener.Addr().String())
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = cs.CoreV1().Secrets("ns").Get(context.Background(), "x", metav1.GetOptions{})
	mu.Lock()
	defer mu.Unlock()
	for _, a := range dialed {
		if strings.HasPrefix(a, "192.0.2.9") {
			t.Fatalf("the client followed a redirect to plain http on %s (dialed %v; the request: %v), want it refused", a, dialed, err)
		}
	}
	if err == nil || !strings.Contains(err.Error(), "plain http") {
		t.Errorf("a request answered by a redirect to plain http on the network: %v, want an error saying plain http was refused", err)
	}
}
