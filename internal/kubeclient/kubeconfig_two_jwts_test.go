package kubeclient

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
)

// Two secrets of one kind share runs of more than 24 characters that are
// no copy of either: every RS256 JWT's header starts with
// "eyJhbGciOiJSUzI1NiIsImtpZCI6", service account tokens share their
// claims' opening, PKCS #8 RSA keys their algorithm identifier. A user's
// token beside another JWT in an exec plugin's env, or a client key
// beside another key there, refused the kubeconfig as "a user's token is
// written elsewhere": rotatord would not start.
func TestKubeconfigOtherSecretsOfOneKindLoad(t *testing.T) {
	const claims = "eyJpc3MiOiJrdWJlcm5ldGVzL3NlcnZpY2VhY2NvdW50Iiwia3ViZXJuZXRlcy5pby9zZXJ2aWNlYWNjb3VudC9uYW1lc3BhY2UiOiJkZWZhdWx0In0"
	tok1 := "eyJhbGciOiJSUzI1NiIsImtpZCI6IkFCQyJ9." + claims + ".Zx9q0Zc3n1V8xT2mYk9Lr4Pw7Hb6Jd5Ns0GFa1UabcDEF"
	tok2 := "eyJhbGciOiJSUzI1NiIsImtpZCI6IlhZWiJ9." + claims + ".Qm7Rt2Yp9Wn4Zb8Hc5d1Fg6Ks0Ae3Ui7Oy2TQxLkVbN"
	pkcs8 := func() string {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return base64.StdEncoding.EncodeToString(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	}
	key1, key2 := pkcs8(), pkcs8()
	exec := func(env string) string {
		return ", exec: {apiVersion: client.authentication.k8s.io/v1, command: helper, interactiveMode: Never, env: [{name: X, value: \"" + env + "\"}]}"
	}
	dir := t.TempDir()
	for name, user := range map[string]string{
		"token":      "token: \"" + tok1 + "\"" + exec(tok2),
		"client key": "client-key-data: " + key1 + exec(key2),
	} {
		body := "apiVersion: v1\nkind: Config\nusers: [{name: u, user: {" + user + "}}]\n" +
			"clusters: [{name: k, cluster: {server: \"https://127.0.0.1:1\"}}]\n" +
			"contexts: [{name: c, context: {cluster: k, user: u}}]\ncurrent-context: c\n"
		path := filepath.Join(dir, "kubeconfig")
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(path); err != nil {
			t.Errorf("%s beside another of its kind: %v, want it loaded", name, err)
		}
	}
}
