package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A Kubernetes sink or the Kubernetes state backend without kubeconfig
// uses the in-cluster configuration. Outside a cluster `run` and `once`
// refuse to start ("unable to load in-cluster configuration"), but
// `validate` (which promises to exit 1 if run would refuse the file, on
// this host) said the file was valid. With Host, it must report it on the
// field, naming what is missing; without Host (--file-only, a file meant
// for a pod) it must not.
func TestValidateReportsInClusterConfigMissingOnThisHost(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "secret"), []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, doc, field string
	}{
		{"sink", `policies:
  - name: ci
    match: {name: ci-*}
    sinks:
      - {type: kubernetes, namespace: apps, name: "exoscale-{{.Name}}"}
`, "policies[0].sinks[0].kubeconfig"},
		{"state", `state: {backend: kubernetes, namespace: rotatord}
policies:
  - name: ci
    match: {name: ci-*}
    sinks:
      - {type: vault, address: "https://vault.example:8200", mount: kv, path: "ci/{{.Name}}", auth: {method: token, token_file: ` + filepath.Join(dir, "secret") + `}}
`, "state.kubeconfig"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := `exoscale:
  api_key: EXO0123456789abcdef01234567
  api_secret_file: ` + filepath.Join(dir, "secret") + `
state_dir: ` + filepath.Join(dir, "state") + "\n" + tc.doc
			path := filepath.Join(dir, tc.name+".yml")
			if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, _, err := Validate(path, ValidateOptions{Getenv: env(nil)}); err != nil {
				t.Fatalf("validate --file-only: %v", err)
			}
			_, _, err := Validate(path, ValidateOptions{Host: true, Getenv: env(nil)})
			var errs *Errors
			if !errors.As(err, &errs) {
				t.Fatalf("validate on a host outside any cluster: %v, want a problem on %s", err, tc.field)
			}
			for _, p := range *errs {
				if p.Path == tc.field && strings.Contains(p.Msg, "KUBERNETES_SERVICE_HOST") && strings.Contains(p.Msg, "kubeconfig") && p.Line > 0 {
					return
				}
			}
			t.Fatalf("validate: %v\nwant a problem on %s (with a line) saying the in-cluster configuration is missing", err, tc.field)
		})
	}
}
