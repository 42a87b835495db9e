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
//
// A plain http server on loopback reached through the cluster's proxy-url
// does not stay on this host: client-go sends every request to an
// explicit proxy-url, loopback's included (the environment's proxies
// skip loopback), so through a proxy on the network (socks5 carries the
// bytes as they are; an http proxy reads them) it crosses the network in
// clear too. An https server keeps its TLS through a proxy, and a proxy
// on loopback keeps plain http on this host.
func TestKubeconfigPlainHTTPToTheNetworkIsRefused(t *testing.T) {
	dir := t.TempDir()
	for i, c := range []struct {
		server, proxy string
		refused       bool
	}{
		{"http://192.0.2.9:8080", "", true},
		{"http://kube.example.com", "", true},
		{"192.0.2.9:8080", "", true}, // no scheme, no TLS: client-go speaks http
		{"http://127.0.0.1:8001", "", false},
		{"http://localhost:8001", "", false},
		{"http://[::1]:8001", "", false},
		{"https://192.0.2.9:6443", "", false},
		{"http://127.0.0.1:8001", "http://192.0.2.9:3128", true},
		{"http://localhost:8001", "socks5://proxy.example.com:1080", true},
		{"127.0.0.1:8001", "http://192.0.2.9:3128", true},
		{"http://127.0.0.1:8001", "http://127.0.0.1:3128", false},
		{"http://127.0.0.1:8001", "socks5://localhost:1080", false},
		{"https://192.0.2.10:6443", "http://192.0.2.9:3128", false},
	} {
		proxy, what := "", "server "+c.server
		if c.proxy != "" {
			proxy = ", proxy-url: \"" + c.proxy + "\""
			what += " through proxy-url " + c.proxy
		}
		doc := "apiVersion: v1\nkind: Config\n" +
			"clusters: [{name: c, cluster: {server: \"" + c.server + "\"" + proxy + "}}]\n" +
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
			t.Errorf("%s: loaded, want it refused as plain http across the network", what)
		case c.refused && (!strings.Contains(err.Error(), "plain http") || !strings.Contains(err.Error(), path) ||
			c.proxy != "" && !strings.Contains(err.Error(), "proxy-url")):
			t.Errorf("%s: %v, want an error naming the kubeconfig (and proxy-url when through one), saying plain http", what, err)
		case !c.refused && err != nil:
			t.Errorf("%s: %v, want it loaded", what, err)
		}
	}
}
