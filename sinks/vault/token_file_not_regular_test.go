//go:build unix

package vault

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestTokenFileThatIsNoRegularFileIsRefused: a named pipe where a token
// file belongs (auth.token_file, a service account token, an AppRole
// secret_id_file; the credential_vault of rotatord's own key reads them at
// start) is refused, naming the path, instead of blocking the read until
// someone writes to it.
func TestTokenFileThatIsNoRegularFileIsRefused(t *testing.T) {
	dir, err := os.MkdirTemp("", "fifo")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	fifo := filepath.Join(dir, "token")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := readSecretFile(fifo)
		done <- err
	}()
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		if w, werr := os.OpenFile(fifo, os.O_WRONLY, 0); werr == nil {
			w.Close()
		}
		<-done
		t.Fatal("reading a token file blocks on a named pipe")
	}
	if err == nil || !strings.Contains(err.Error(), "not a regular file") || !strings.Contains(err.Error(), fifo) {
		t.Errorf("got %v, want an error naming %s as not a regular file", err, fifo)
	}
}
