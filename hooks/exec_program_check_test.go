package hooks

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Issue 14's hooks run "a command": validate refuses one that others may
// write (anyone could replace the consumer check, or run code as
// rotatord, which holds the API secret), but run started with it, and ran
// it, and a program made writable after validate ran too. The check is
// made where the program runs.
func TestExecHookRefusesAProgramOthersMayReplace(t *testing.T) {
	dir := t.TempDir()
	ran := filepath.Join(dir, "ran")
	prog := filepath.Join(dir, "check.sh")
	if err := os.WriteFile(prog, []byte("#!/bin/sh\ntouch "+ran+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(prog, 0o777); err != nil {
		t.Fatal(err)
	}
	h := Exec{Command: []string{prog}, Timeout: 5 * time.Second}
	err := h.Run(context.Background(), testEvent())
	if err == nil || !strings.Contains(err.Error(), "writable by others") {
		t.Errorf("Run of a world-writable program = %v, want refused as writable by others", err)
	}
	if _, serr := os.Stat(ran); serr == nil {
		t.Error("the world-writable program ran")
	}

	// In a directory everyone may write (no sticky bit): anyone could
	// rename another file over it.
	open := filepath.Join(dir, "open")
	if err := os.Mkdir(open, 0o700); err != nil {
		t.Fatal(err)
	}
	prog2 := filepath.Join(open, "check.sh")
	if err := os.WriteFile(prog2, []byte("#!/bin/sh\ntouch "+ran+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	err = Exec{Command: []string{prog2}, Timeout: 5 * time.Second}.Run(context.Background(), testEvent())
	if err == nil || !strings.Contains(err.Error(), "everyone may write") {
		t.Errorf("Run of a program in a world-writable directory = %v, want refused", err)
	}
	if _, serr := os.Stat(ran); serr == nil {
		t.Error("the program in a world-writable directory ran")
	}

	// The same program, once only its owner may write it, runs.
	if err := os.Chmod(prog, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := h.Run(context.Background(), testEvent()); err != nil {
		t.Errorf("Run of a 0755 program: %v", err)
	}
}
