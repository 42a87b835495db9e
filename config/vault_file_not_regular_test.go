//go:build unix

package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rotatord/rotatord/internal/fifotest"
)

// TestValidateRefusesANamedPipeAsVaultTokenFile: validate opens a Vault
// sink's token file (and the credential_vault's of rotatord's own key) to
// check it is readable; a named pipe planted there held that open until
// someone wrote to the pipe, so validate hung. It is reported instead,
// on its field.
func TestValidateRefusesANamedPipeAsVaultTokenFile(t *testing.T) {
	fifo := fifotest.Make(t, "token")
	dir := filepath.Dir(fifo)
	path := filepath.Join(dir, "p.yml")
	if err := os.WriteFile(path, []byte(`exoscale:
  credential_from: vault
  credential_vault:
    address: https://vault.example:8200
    path: infra/rotatord
    auth: {method: token, token_file: `+fifo+`}
  own_key: {}
state_dir: `+filepath.Join(dir, "state")+`
`), 0o600); err != nil {
		t.Fatal(err)
	}
	err := fifotest.Call(t, fifo, "validate", func() error {
		_, _, err := Validate(path, ValidateOptions{Host: true, Getenv: func(string) string { return "" }})
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "credential_vault.auth.token_file") || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("got %v, want a problem on exoscale.credential_vault.auth.token_file: not a regular file", err)
	}
}
