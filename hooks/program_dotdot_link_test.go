package hooks

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A relative link's ".." is taken by the kernel from where a linked
// directory really is: opt/hooks -> srv/x/hooks, and in it check ->
// ../real/check runs srv/x/real/check, in a directory everyone may write,
// while the path as written (opt/real/check) names a harmless program.
func TestCheckProgramResolvesDotDotThroughALinkedDirectory(t *testing.T) {
	root := t.TempDir()
	mk := func(dir string, mode os.FileMode) {
		if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(root, dir), mode); err != nil {
			t.Fatal(err)
		}
	}
	mk("opt", 0o755)
	mk("opt/real", 0o755)
	mk("srv/x/hooks", 0o755)
	mk("srv/x/real", 0o777)
	for _, f := range []string{"opt/real/check", "srv/x/real/check"} {
		if err := os.WriteFile(filepath.Join(root, f), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(root, "srv/x/hooks"), filepath.Join(root, "opt/hooks")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../real/check", filepath.Join(root, "srv/x/hooks/check")); err != nil {
		t.Fatal(err)
	}
	prog := filepath.Join(root, "opt/hooks/check")
	err := CheckProgram(prog)
	if err == nil || !strings.Contains(err.Error(), "everyone may write") {
		t.Errorf("CheckProgram(%s), which runs %s in a world-writable directory: %v", prog, filepath.Join(root, "srv/x/real/check"), err)
	}
	// The harmless program itself, linked plainly, still passes.
	if err := CheckProgram(filepath.Join(root, "opt/real/check")); err != nil {
		t.Errorf("a plain program in a safe directory refused: %v", err)
	}
}
