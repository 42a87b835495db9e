package kubeclient

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKubeconfigPlainHTTPToTheNetworkIsRefused: a kubeconfig whose server
// is plain http on a host that is not loopback would send every Secret a
// Kubernetes sink writes (the new API secrets) and the user's token in
// clear, as a plain http Exoscale endpoint or Vault address would; those
// are refused, and so must this be (the API server has had no insecure
// port since Kubernetes 1.20: such a server is a proxy). Loopback (kubectl
// proxy) and https are kept.
func TestKubeconfigPlainHTTPToTheNetworkIsRefused(t *testing.T) {
	dir := t.TempDir()
	for i, c := range []struct {
		server  string
		refused bool
	}{
		{"http://192.0.2.9:8080", true},
		{"http://kube.example.com", true},
		{"192.0.2.9:8080", true}, // no scheme, no TLS: client-go speaks http
		{"http://127.0.0.1:8001", false},
		{"http://localhost:8001", false},
		{"http://[::1]:8001", false},
		{"https://192.0.2.9:6443", false},
	} {
		doc := "apiVersion: v1\nkind: Config\n" +
			"clusters: [{name: c, cluster: {server: \"" + c.server + "\"}}]\n" +
			"users: [{name: u, user: {token: abc}}]\n" +
			"contexts: [{name: x, context: {cluster: c, user: u}}]\n" +
			"current-context: x\n"
		path := filepath.Join(dir, "kc"+string(rune('a'+i))+".yml")
		if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := FromKubeconfig(path, "")
		switch {
		case c.refused && err == nil:
			t.Errorf("server %s: loaded, want it refused as plain http to a host that is not loopback", c.server)
		case c.refused && (!strings.Contains(err.Error(), "plain http") || !strings.Contains(err.Error(), path)):
			t.Errorf("server %s: %v, want an error naming the kubeconfig and saying plain http", c.server, err)
		case !c.refused && err != nil:
			t.Errorf("server %s: %v, want it loaded", c.server, err)
		}
	}
}
