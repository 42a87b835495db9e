//go:build unix

package apiclient

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCredentialFileThatIsNoRegularFileIsRefused: a named pipe planted
// where a credential file belongs (credential_file, api_key_file,
// api_secret_file) is refused with an error naming the path, instead of a
// read that blocks until someone writes to the pipe: `validate` and `run`
// would hang there.
func TestCredentialFileThatIsNoRegularFileIsRefused(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "credential.json")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	for _, src := range []CredentialSource{
		{PairFile: fifo},
		{KeyFile: fifo, Secret: "x"},
		{Key: "EXO0123456789abcdef01234567", SecretFile: fifo},
	} {
		done := make(chan error, 1)
		go func() {
			_, err := src.Resolve(func(string) string { return "" })
			done <- err
		}()
		var err error
		select {
		case err = <-done:
		case <-time.After(30 * time.Second):
			// Blocked on the pipe: let the read end, then report.
			if w, werr := os.OpenFile(fifo, os.O_WRONLY, 0); werr == nil {
				w.Close()
			}
			<-done
			t.Errorf("%+v: reading the credential blocks on a named pipe", src)
			continue
		}
		if err == nil || !strings.Contains(err.Error(), "not a regular file") || !strings.Contains(err.Error(), fifo) {
			t.Errorf("%+v: got %v, want an error naming %s as not a regular file", src, err, fifo)
		}
	}
}
