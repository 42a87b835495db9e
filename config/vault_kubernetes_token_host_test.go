package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A Vault sink with the kubernetes method and no
// service_account_token_file reads the pod's token: on a host outside
// any pod, validate passed it and every pass of `run` failed at the
// sink's login. It is now reported on the field; --file-only (a file
// meant for a pod) and a token file named in the field are unchanged.
func TestVaultKubernetesAuthDefaultTokenCheckedOnThisHost(t *testing.T) {
	dir := t.TempDir()
	// The pod's token, where this host has none (a CI runner may be a pod).
	defer func(old string) { podServiceAccountTokenFile = old }(podServiceAccountTokenFile)
	podServiceAccountTokenFile = filepath.Join(dir, "no-pod", "token")
	token := filepath.Join(dir, "sa-token")
	if err := os.WriteFile(token, []byte("eyJhbGciOiJSUzI1NiJ9.e30.c2ln"), 0o600); err != nil {
		t.Fatal(err)
	}

	path := writeVaultAuthPolicy(t, dir, `{method: kubernetes, role: rotatord}`)
	_, _, err := Validate(path, ValidateOptions{Host: true, Getenv: noEnv})
	if err == nil {
		t.Fatal("validate accepts the kubernetes method without a token on this host")
	}
	if msg := err.Error(); !strings.Contains(msg, "auth.service_account_token_file") || !strings.Contains(msg, podServiceAccountTokenFile) {
		t.Errorf("the problem does not name the field and the default token file:\n%s", msg)
	}
	if _, _, err := Validate(path, ValidateOptions{Host: false, Getenv: noEnv}); err != nil {
		t.Errorf("the file alone (--file-only) is refused: %v", err)
	}
	path = writeVaultAuthPolicy(t, dir, `{method: kubernetes, role: rotatord, service_account_token_file: `+token+`}`)
	if _, _, err := Validate(path, ValidateOptions{Host: true, Getenv: noEnv}); err != nil {
		t.Errorf("a named token file on this host is refused: %v", err)
	}
}

// writeVaultAuthPolicy writes dir/rotatord.yml: one policy delivering to
// a Vault sink that logs in with auth (a YAML flow mapping).
func writeVaultAuthPolicy(t *testing.T, dir, auth string) string {
	t.Helper()
	path := filepath.Join(dir, "rotatord.yml")
	doc := `exoscale:
  api_key: EXO0123456789abcdef01234567
  api_secret: s3cr3t
state_dir: ` + filepath.Join(dir, "state") + `
policies:
  - name: ci
    match: {name: ci-*}
    sinks:
      - type: vault
        address: https://vault.example:8200
        path: exo/{{.Name}}
        auth: ` + auth + `
`
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// The default token that is there but cannot be reached (a symlink loop
// here; a directory this user cannot search) is not "not on this host":
// that sent an operator inside a pod to name a token file. The open's
// own error is reported, saying the path is the default.
func TestVaultKubernetesAuthDefaultTokenThereButUnreachable(t *testing.T) {
	dir := t.TempDir()
	loop := filepath.Join(dir, "token")
	if err := os.Symlink(loop, loop); err != nil {
		t.Fatal(err)
	}
	defer func(old string) { podServiceAccountTokenFile = old }(podServiceAccountTokenFile)
	podServiceAccountTokenFile = loop
	path := writeVaultAuthPolicy(t, dir, `{method: kubernetes, role: rotatord}`)
	_, _, err := Validate(path, ValidateOptions{Host: true, Getenv: noEnv})
	if err == nil {
		t.Fatal("validate accepts a default token it cannot open")
	}
	msg := err.Error()
	if strings.Contains(msg, "not on this host") || !strings.Contains(msg, "symbolic links") {
		t.Errorf("the problem is not the open's own:\n%s", msg)
	}
	if !strings.Contains(msg, "auth.service_account_token_file") || !strings.Contains(msg, "the default") {
		t.Errorf("the problem does not name the field and say the path is the default:\n%s", msg)
	}
	if strings.Count(msg, "\n") > 0 {
		t.Errorf("reported more than once:\n%s", msg)
	}
}
