package hooks

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A hook program reached through a symlink is checked where it is: a
// link in a safe directory to a program in a directory everyone may
// write (or to a file everyone may write) is refused, as the program
// itself would be (issue #14: only the link's directory was checked).
func TestCheckProgramFollowsSymlinks(t *testing.T) {
	dir := t.TempDir()
	open := filepath.Join(dir, "open")
	safe := filepath.Join(dir, "safe")
	for _, d := range []string{open, safe} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	target := filepath.Join(open, "check.sh")
	if err := os.WriteFile(target, []byte("#!/bin/sh\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(safe, "check")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := CheckProgram(link); err == nil || !strings.Contains(err.Error(), "everyone may write") {
		t.Errorf("CheckProgram(link to a program in a world-writable directory) = %v, want refused", err)
	}
	// A relative link, through a second link, ends in the same place.
	hop := filepath.Join(safe, "hop")
	if err := os.Symlink("check", hop); err != nil {
		t.Fatal(err)
	}
	if err := CheckProgram(hop); err == nil || !strings.Contains(err.Error(), "everyone may write") {
		t.Errorf("CheckProgram(link to a link to that program) = %v, want refused", err)
	}

	// A link to a file everyone may write.
	ww := filepath.Join(safe, "ww.sh")
	if err := os.WriteFile(ww, []byte("#!/bin/sh\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(ww, 0o777); err != nil {
		t.Fatal(err)
	}
	link2 := filepath.Join(safe, "ww")
	if err := os.Symlink(ww, link2); err != nil {
		t.Fatal(err)
	}
	if err := CheckProgram(link2); err == nil || !strings.Contains(err.Error(), "writable by others") {
		t.Errorf("CheckProgram(link to a world-writable program) = %v, want refused", err)
	}

	// Once the target's directory is safe, the links pass.
	if err := os.Chmod(open, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{link, hop} {
		if err := CheckProgram(p); err != nil {
			t.Errorf("CheckProgram(%s), a link to a safe program = %v, want nil", p, err)
		}
	}
}
