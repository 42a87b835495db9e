package kubeclient

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKubeconfigSecretElsewhereIsRefused: a kubeconfig's token (or
// password, or client key) aliased into another field (current-context:
// *t, proxy-url: *t, certificate-authority: *t) was quoted whole by
// rotatord validate, in client-go's "context was not found for specified
// context: <token>", "invalid 'proxy-url' <token>", "unable to read
// certificate-authority <dir>/<token>" (seen with the real binary); in a
// field client-go accepts (server, tokenFile, a namespace) it reaches the
// log of each request. Such a kubeconfig is now refused, without quoting
// the secret; one with the secret in its own field loads.
func TestKubeconfigSecretElsewhereIsRefused(t *testing.T) {
	const tok = "eyJhbGciOiJSUzI1NiIsImtpZCI6IkFCQyJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6ZGVmYXVsdCJ9.Zx9q0Zc3n1V8xT2mYk9Lr4Pw7Hb6Jd5Ns0GFa1UabcDEF"
	const pass = "Sx3kQ9vLm2Rt7YpWn4Zb8Hc-d5Fg1Ks6Ae0Ui3Oy7TQ"
	key := base64.StdEncoding.EncodeToString([]byte("-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5hfvTd5F2DaVeoAoGCCqGSM49\n-----END EC PRIVATE KEY-----\n"))
	doc := func(user, clusterExtra, contextExtra, current string) string {
		return "apiVersion: v1\nkind: Config\nusers: [{name: u, user: {" + user + "}}]\n" +
			"clusters: [{name: k, cluster: {server: \"https://127.0.0.1:1\"" + clusterExtra + "}}]\n" +
			"contexts: [{name: c, context: {cluster: k, user: u" + contextExtra + "}}]\n" +
			"current-context: " + current + "\n"
	}
	tokUser := "token: &t \"" + tok + "\""
	dir := t.TempDir()
	for _, c := range []struct{ name, body, secret string }{
		{"current-context", doc(tokUser, "", "", "*t"), tok},
		{"proxy-url", doc(tokUser, ", proxy-url: *t", "", "c"), tok},
		{"certificate-authority", doc(tokUser, ", certificate-authority: *t", "", "c"), tok},
		{"server", doc(tokUser, ", tls-server-name: *t", "", "c"), tok},
		{"namespace", doc(tokUser, "", ", namespace: *t", "c"), tok},
		{"password", doc("username: a, password: &t \""+pass+"\"", "", ", namespace: *t", "c"), pass},
		{"client key", doc("client-key-data: &t "+key, ", tls-server-name: *t", "", "c"), key},
	} {
		path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-")+".yml")
		if err := os.WriteFile(path, []byte(c.body), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := FromKubeconfig(path, "")
		if err == nil {
			t.Errorf("%s: loaded, want the secret written elsewhere refused", c.name)
			continue
		}
		if strings.Contains(err.Error(), c.secret[len(c.secret)-20:]) {
			t.Errorf("%s: the error quotes the secret: %v", c.name, err)
		}
		if !strings.Contains(err.Error(), "elsewhere") {
			t.Errorf("%s: the error does not say the secret is written elsewhere: %v", c.name, err)
		}
	}
	path := filepath.Join(dir, "ok.yml")
	if err := os.WriteFile(path, []byte(doc(tokUser, "", "", "c")), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := FromKubeconfig(path, ""); err != nil {
		t.Errorf("the token in its own field: %v", err)
	}
}

// TestKubeconfigErrorsCutTheFilesLongWords: a token moved (not aliased)
// out of its field into one client-go quotes (current-context,
// proxy-url), or a client key's line into certificate-authority, leaves
// nothing for secretElsewhere to compare, and client-go's message quoted
// it whole. Long runs of base64 characters of the file are now cut in
// the kubeconfig's errors (a name of words after a '/' stays whole).
func TestKubeconfigErrorsCutTheFilesLongWords(t *testing.T) {
	const tok = "eyJhbGciOiJSUzI1NiIsImtpZCI6IkFCQyJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6ZGVmYXVsdCJ9.Zx9q0Zc3n1V8xT2mYk9Lr4Pw7Hb6Jd5Ns0GFa1UabcDEF"
	doc := func(clusterExtra, current string) string {
		return "apiVersion: v1\nkind: Config\nusers: [{name: u, user: {}}]\n" +
			"clusters: [{name: k, cluster: {server: \"https://127.0.0.1:1\"" + clusterExtra + "}}]\n" +
			"contexts: [{name: c, context: {cluster: k, user: u}}]\n" +
			"current-context: " + current + "\n"
	}
	dir := t.TempDir()
	for _, c := range []struct{ name, body, want string }{
		{"current-context", doc("", `"`+tok+`"`), "is not defined in the file"},
		{"proxy-url", doc(", proxy-url: \""+tok+"\"", "c"), "proxy-url"},
		{"certificate-authority", doc(", certificate-authority: \"/etc/kube/"+tok+"\"", "c"), "certificate-authority"},
	} {
		path := filepath.Join(dir, c.name+".yml")
		if err := os.WriteFile(path, []byte(c.body), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := FromKubeconfig(path, "")
		if err == nil {
			t.Errorf("%s: loaded, want an error", c.name)
			continue
		}
		if strings.Contains(err.Error(), tok[len(tok)-20:]) || strings.Contains(err.Error(), tok[40:70]) {
			t.Errorf("%s: the error quotes the token: %v", c.name, err)
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: the error does not say %q: %v", c.name, c.want, err)
		}
	}
	// A file name of words stays whole.
	path := filepath.Join(dir, "ca.yml")
	if err := os.WriteFile(path, []byte(doc(", certificate-authority: /etc/kube/ca-certificate-of-the-production-cluster.crt", "c")), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := FromKubeconfig(path, ""); err == nil || !strings.Contains(err.Error(), "/etc/kube/ca-certificate-of-the-production-cluster.crt") {
		t.Errorf("the CA file's name is not shown whole: %v", err)
	}
}

// TestKubeconfigBinaryIsRefused: a client key's data (base64 of the PEM)
// moved under current-context: !!binary was decoded by the YAML parser,
// and client-go's "context was not found for specified context:
// -----BEGIN EC PRIVATE KEY-----..." printed the private key (seen with
// the real binary): the key's base64 lines are not the file's. No field
// of a kubeconfig is binary: a value so tagged is refused, quoting nothing.
func TestKubeconfigBinaryIsRefused(t *testing.T) {
	const body = "MHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5hfvTd5F2DaVeoAoGCCqGSM49"
	key := base64.StdEncoding.EncodeToString([]byte("-----BEGIN EC PRIVATE KEY-----\n" + body + "\n-----END EC PRIVATE KEY-----\n"))
	dir := t.TempDir()
	for i, tag := range []string{"!!binary", "!<tag:yaml.org,2002:binary>"} {
		doc := "apiVersion: v1\nkind: Config\nusers: [{name: u, user: {}}]\n" +
			"clusters: [{name: k, cluster: {server: \"https://127.0.0.1:1\"}}]\n" +
			"contexts: [{name: c, context: {cluster: k, user: u}}]\n" +
			"current-context: " + tag + " " + key + "\n"
		path := filepath.Join(dir, fmt.Sprintf("kc%d.yml", i))
		if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := FromKubeconfig(path, "")
		if err == nil {
			t.Fatalf("%s: loaded", tag)
		}
		if strings.Contains(err.Error(), body[10:40]) || !strings.Contains(err.Error(), "binary") {
			t.Errorf("%s: want !!binary refused without the key: %v", tag, err)
		}
	}
}
