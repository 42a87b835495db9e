//go:build unix

// Package fifotest holds what the tests of a named pipe at a file's path
// share: a pipe planted where rotatord expects a regular file, and a call
// that must refuse it at once instead of waiting for a writer.
package fifotest

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Make creates a named pipe called name in a new directory and returns
// its path; the test is skipped where pipes cannot be made.
func Make(t testing.TB, name string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "fifo")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, name)
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	return path
}

// blockedAfter is how long a call may take before Call counts it as
// blocked: long, for a slow shared machine.
var blockedAfter = 30 * time.Second

// Call runs fn and returns its error. A call still waiting after a while
// is blocked on the pipe at fifo: Call opens the pipe for writing a few
// times, so that the reads waiting for a writer end, and fails the test,
// saying what blocked.
func Call(t testing.TB, fifo, what string, fn func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-time.After(blockedAfter):
	}
	for range 3 { // each open of the pipe for reading waits for a writer
		if w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			w.Close()
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s waits on a named pipe at %s", what, fifo)
	return nil
}
