package kubeclient

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKubeconfigPlainHTTPThroughAProxyOnTheNetworkIsRefused: a server in
// plain http on loopback is kept (kubectl proxy), but with the cluster's
// proxy-url the request does not stay on this host: client-go sends it,
// the token and the Secret in it, to the proxy, which an explicit
// proxy-url is asked for even for loopback (the environment's proxies are
// not). Through a proxy on the network, plain http crosses the network in
// clear as a server there would (a socks5 proxy carries the bytes as they
// are; an http one reads them). An https server keeps its TLS through a
// proxy, and a proxy on loopback keeps plain http on this host.
func TestKubeconfigPlainHTTPThroughAProxyOnTheNetworkIsRefused(t *testing.T) {
	dir := t.TempDir()
	for i, c := range []struct {
		server, proxy string
		refused       bool
	}{
		{"http://127.0.0.1:8001", "http://192.0.2.9:3128", true},
		{"http://localhost:8001", "socks5://proxy.example.com:1080", true},
		{"127.0.0.1:8001", "http://192.0.2.9:3128", true}, // no scheme, no TLS: http
		{"http://127.0.0.1:8001", "http://127.0.0.1:3128", false},
		{"http://127.0.0.1:8001", "socks5://localhost:1080", false},
		{"https://192.0.2.10:6443", "http://192.0.2.9:3128", false},
		{"https://192.0.2.10:6443", "", false},
	} {
		proxy := ""
		if c.proxy != "" {
			proxy = ", proxy-url: \"" + c.proxy + "\""
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
			t.Errorf("server %s through proxy-url %s: loaded, want it refused as plain http across the network", c.server, c.proxy)
		case c.refused && (!strings.Contains(err.Error(), "plain http") || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "proxy-url")):
			t.Errorf("server %s through proxy-url %s: %v, want an error naming the kubeconfig and proxy-url, saying plain http", c.server, c.proxy, err)
		case !c.refused && err != nil:
			t.Errorf("server %s through proxy-url %s: %v, want it loaded", c.server, c.proxy, err)
		}
	}
}
