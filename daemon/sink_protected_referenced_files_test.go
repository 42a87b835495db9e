package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/rotatord/rotatord/apiclient/exosim"
	"github.com/rotatord/rotatord/apiclient/exosim/exosimtest"
	"github.com/rotatord/rotatord/config"
	"github.com/rotatord/rotatord/rotation"
)

// As TestTemplatedSinkNeverWritesRotatordsConfigFiles, for the files those
// files name in turn: the TLS certificate, key and client CA of the
// --web.config.file (one relative to its directory), and the CA
// certificate, client certificate, client key and token file of a
// Kubernetes sink's kubeconfig, relative to the kubeconfig's directory as
// client-go resolves them ("../x" from a kubeconfig in a subdirectory).
// A file sink with take_over whose template renders one for a name
// someone chose replaced the server's certificate (the next handshake
// fails) or the cluster credential with an Exoscale credential. Each such
// rotation fails before any key is made, and the files stay as they were.
func TestTemplatedSinkNeverWritesFilesTheWebConfigOrAKubeconfigNames(t *testing.T) {
	names := []string{"web-cert.pem", "web-key.pem", "web-ca.pem", "kube-ca.pem", "kube-cert.pem", "kube-key.pem", "kube-token"}
	seed := exosim.DefaultSeed()
	for _, n := range names {
		seed.Keys = append(seed.Keys, exosim.SeedKey{Name: n, Role: "ci"})
	}
	sim := exosimtest.NewServer(t, seed)
	dir := t.TempDir()
	admin := sim.Admin()
	cred, _ := json.Marshal(map[string]string{"api_key": admin.Key, "api_secret": admin.Secret})
	if err := os.WriteFile(filepath.Join(dir, "credential.json"), cred, 0o600); err != nil {
		t.Fatal(err)
	}
	// Valid PEM: the Kubernetes client reads them when the sink is made.
	certFile, keyFile, _ := selfSigned(t, t.TempDir())
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"web-cert.pem": string(certPEM), "web-key.pem": string(keyPEM), "web-ca.pem": string(certPEM),
		"kube-ca.pem": string(certPEM), "kube-cert.pem": string(certPEM), "kube-key.pem": string(keyPEM),
		"kube-token": "a-cluster-token-rotatord-reads\n",
	}
	for n, content := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	web := filepath.Join(dir, "web.yml")
	webBody := fmt.Sprintf("tls_server_config:\n  cert_file: web-cert.pem\n  key_file: %s\n  client_ca_file: ./web-ca.pem\n", filepath.Join(dir, "web-key.pem"))
	if err := os.WriteFile(web, []byte(webBody), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "kube"), 0o700); err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(dir, "kube", "config")
	kubeBody := `apiVersion: v1
kind: Config
clusters:
  - name: c
    cluster: {server: "https://127.0.0.1:1", certificate-authority: ../kube-ca.pem}
users:
  - name: u
    user: {client-certificate: ../kube-cert.pem, client-key: ../kube-key.pem, tokenFile: ../kube-token}
contexts:
  - name: x
    context: {cluster: c, user: u}
current-context: x
`
	if err := os.WriteFile(kubeconfig, []byte(kubeBody), 0o600); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "rotatord.yml")
	body := fmt.Sprintf(`exoscale:
  endpoint: %s
  credential_file: credential.json
  max_retries: 0
state_dir: state
listen: 127.0.0.1:0
policies:
  - name: ci
    match: {name: "*"}
    adopt: rotate
    sinks: [{type: file, path: "{{.Name}}", format: env, take_over: true}]
  - name: kube
    match: {name: "never-*"}
    sinks:
      - {type: kubernetes, kubeconfig: kube/config, namespace: ns, name: "{{.Name}}"}
`, sim.Endpoint)
	if err := os.WriteFile(config, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := New(Options{ConfigPath: config, Logger: zap.NewNop(), Registry: prometheus.NewRegistry(), Web: WebOptions{ConfigFile: web}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	out, err := d.RunPass(context.Background(), []string{"ci"}, rotation.Options{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	checkProtectedRotations(t, sim, out, names, dir, files)
}

// Where a Kubernetes part uses the in-cluster configuration (no
// kubeconfig: the journal, the Lease, a Kubernetes sink) or a Vault sink
// logs in with the pod's default service account token, those files are
// among what no file sink writes: a sink whose template renders into
// /var/run/secrets/kubernetes.io/serviceaccount would replace the token
// the cluster and Vault know the pod by.
func TestInClusterServiceAccountFilesAreProtected(t *testing.T) {
	const (
		token = "/var/run/secrets/kubernetes.io/serviceaccount/token"
		ca    = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
	)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "credential.json"), []byte(`{"api_key": "EXO0123456789abcdef01234567", "api_secret": "s"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	head := "exoscale: {credential_file: credential.json}\nstate_dir: state\n"
	fileSink := `
  - name: files
    match: {name: "f-*"}
    sinks: [{type: file, path: "out/{{.Name}}", format: env}]
`
	for _, c := range []struct {
		what, body string
		want       []string
	}{
		{"the journal in the Kubernetes API", "state: {backend: kubernetes, namespace: rotatord}\npolicies:" + fileSink, []string{token, ca}},
		{"a Kubernetes sink", "policies:" + fileSink + `
  - name: kube
    match: {name: "k-*"}
    sinks: [{type: kubernetes, namespace: ns, name: "{{.Name}}"}]
`, []string{token, ca}},
		{"a Vault sink's kubernetes login", "policies:" + fileSink + `
  - name: vault
    match: {name: "v-*"}
    sinks: [{type: vault, address: "https://vault.invalid", path: "x/{{.Name}}", auth: {method: kubernetes, role: r}}]
`, []string{token}},
	} {
		cfg, err := config.Parse([]byte(head+c.body), filepath.Join(dir, "rotatord.yml"), dir)
		if err != nil {
			t.Fatalf("%s: %v", c.what, err)
		}
		var got []string
		for _, p := range protectionOf(cfg, Options{}).files {
			got = append(got, p.Path)
		}
		for _, w := range c.want {
			if !slices.Contains(got, w) {
				t.Errorf("with %s, %s is not protected (protected: %v)", c.what, w, got)
			}
		}
	}
}
