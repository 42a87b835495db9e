//go:build unix

package config

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestValidateRefusesANamedPipeAsVaultTokenFile: validate opens a Vault
// sink's token file (and the credential_vault's of rotatord's own key) to
// check it is readable; a named pipe planted there held that open until
// someone wrote to the pipe, so validate hung. It is reported instead,
// on its field.
func TestValidateRefusesANamedPipeAsVaultTokenFile(t *testing.T) {
	dir, err := os.MkdirTemp("", "fifo")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	fifo := filepath.Join(dir, "token")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
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
	done := make(chan error, 1)
	go func() {
		_, _, err := Validate(path, ValidateOptions{Host: true, Getenv: func(string) string { return "" }})
		done <- err
	}()
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		for range 3 { // each open of the pipe for reading waits for a writer
			if w, werr := os.OpenFile(fifo, os.O_WRONLY, 0); werr == nil {
				w.Close()
			}
		}
		t.Fatal("validate blocks on a named pipe as token_file")
	}
	if err == nil || !strings.Contains(err.Error(), "credential_vault.auth.token_file") || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("got %v, want a problem on exoscale.credential_vault.auth.token_file: not a regular file", err)
	}
}
