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

// A named pipe at the policy file's path held `validate`, the start of
// `run`, and a reload (whose actor then held the stop) in a blocking read.
// It is refused at once, naming the file.
func TestPolicyFileThatIsNoRegularFileIsRefused(t *testing.T) {
	dir, err := os.MkdirTemp("", "fifo")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	fifo := filepath.Join(dir, "rotatord.yml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	for name, read := range map[string]func() error{
		"load":     func() error { _, err := Load(fifo); return err },
		"validate": func() error { _, _, err := Validate(fifo, ValidateOptions{Getenv: env(nil)}); return err },
	} {
		done := make(chan error, 1)
		go func() { done <- read() }()
		select {
		case err = <-done:
		case <-time.After(20 * time.Second):
			for range 3 {
				if w, werr := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); werr == nil {
					w.Close()
				}
				time.Sleep(100 * time.Millisecond)
			}
			t.Fatalf("%s waits on a named pipe as the policy file", name)
		}
		if err == nil || !strings.Contains(err.Error(), fifo) || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("%s: got %v, want an error naming %s: not a regular file", name, err, fifo)
		}
	}
}
