package hooks

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A named pipe at the webhook's key file is refused at once, not waited
// on: a blocking open would hold the hook until someone writes to it.
func TestWebhookKeyFileThatIsAPipeIsRefusedAtOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hook-key")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	done := make(chan error, 1)
	go func() { _, err := ReadKeyFile(path); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a file") {
			t.Errorf("ReadKeyFile of a named pipe: %v, want it refused as not a file", err)
		}
	case <-time.After(time.Minute):
		// Unblock the open so that the goroutine ends.
		if f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
		t.Fatal("ReadKeyFile of a named pipe still waits after a minute")
	}
}
