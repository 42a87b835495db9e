package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestVaultSinkAddressReportedBesideItsFiles: validate reports every
// problem in one run, a sink's host problems beside its other ones; but a
// Vault sink with no address (none in the file, no VAULT_ADDR) and a
// missing secret_id_file was reported for the file only, and its address
// only at the next run, once the file was there.
func TestVaultSinkAddressReportedBesideItsFiles(t *testing.T) {
	dir := t.TempDir()
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
        path: exo/{{.Name}}
        auth:
          method: approle
          role_id: x
          secret_id_file: ` + filepath.Join(dir, "missing-secret-id") + `
`
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := Validate(path, ValidateOptions{Host: true, Getenv: noEnv})
	if err == nil {
		t.Fatal("accepted")
	}
	msg := err.Error()
	if !strings.Contains(msg, "secret_id_file") || !strings.Contains(msg, "no address") {
		t.Errorf("want both the missing secret_id_file and the missing address, got:\n%s", msg)
	}
	if strings.Count(msg, "no address") != 1 {
		t.Errorf("the address is reported more than once:\n%s", msg)
	}
}
