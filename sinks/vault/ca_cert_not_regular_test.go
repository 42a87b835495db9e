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

// A named pipe at tls.ca_cert (the sink's, or the credential_vault's of
// rotatord's own key) is refused when the sink is built, at the start and
// at each reload, naming the field and the file: the Vault library's
// blocking read of it held the start until someone wrote to the pipe.
func TestCACertThatIsNoRegularFileIsRefused(t *testing.T) {
	dir, err := os.MkdirTemp("", "fifo")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	fifo := filepath.Join(dir, "ca.pem")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		s, err := New(Options{
			Address: "https://vault.example:8200", Path: pathTmpl(t, "exoscale/{{.Name}}"),
			TLS:    TLSOptions{CACert: fifo},
			Getenv: func(k string) string { return map[string]string{"VAULT_TOKEN": "hvs.x"}[k] },
		})
		if err == nil {
			s.Close()
		}
		done <- err
	}()
	select {
	case err = <-done:
	case <-time.After(20 * time.Second):
		for range 3 {
			if w, werr := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); werr == nil {
				w.Close()
			}
		}
		t.Fatal("building a Vault sink waits on a named pipe as tls.ca_cert")
	}
	if err == nil || !strings.Contains(err.Error(), "tls.ca_cert") || !strings.Contains(err.Error(), fifo) ||
		!strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("got %v, want an error naming tls.ca_cert %s: not a regular file", err, fifo)
	}
}
