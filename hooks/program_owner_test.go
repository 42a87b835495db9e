package hooks

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// giveTo hands path to otherUID; only root may, elsewhere the test skips.
func giveTo(t *testing.T, path string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: a file owned by another user is made with Chown, which only root may do")
	}
	if err := os.Chown(path, otherUID, otherUID); err != nil {
		t.Skipf("cannot give %s to uid %d: %v", path, otherUID, err)
	}
}

func writeProgram(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
}

// A program another user owns can be rewritten by that user (mode bits
// are theirs to change), and it would run as rotatord, which holds the API
// secret, and answer every consumer check.
func TestCheckProgramRefusesAProgramAnotherUserOwns(t *testing.T) {
	prog := filepath.Join(t.TempDir(), "check")
	writeProgram(t, prog)
	giveTo(t, prog)
	err := CheckProgram(prog)
	if err == nil || !strings.Contains(err.Error(), "owned by uid 65534") {
		t.Fatalf("CheckProgram accepted a program uid %d owns (and may rewrite): %v", otherUID, err)
	}
}

// A directory another user owns, or that its group may write, lets them
// rename the program away and put their own in its place.
func TestCheckProgramRefusesADirectoryOthersMayRewrite(t *testing.T) {
	t.Run("owned by another user", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "alice-bin")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		prog := filepath.Join(dir, "check")
		writeProgram(t, prog)
		giveTo(t, dir)
		err := CheckProgram(prog)
		if err == nil || !strings.Contains(err.Error(), "owned by uid 65534") {
			t.Fatalf("CheckProgram accepted a program in a directory uid %d owns: %v", otherUID, err)
		}
	})
	t.Run("writable by its group", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "team-bin")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o775); err != nil {
			t.Fatal(err)
		}
		prog := filepath.Join(dir, "check")
		writeProgram(t, prog)
		err := CheckProgram(prog)
		if err == nil || !strings.Contains(err.Error(), "its group may write") {
			t.Fatalf("CheckProgram accepted a program in a group-writable directory: %v", err)
		}
	})
	t.Run("a parent owned by another user", func(t *testing.T) {
		home := filepath.Join(t.TempDir(), "home-alice")
		if err := os.Mkdir(home, 0o755); err != nil {
			t.Fatal(err)
		}
		bin := filepath.Join(home, "bin")
		if err := os.Mkdir(bin, 0o755); err != nil {
			t.Fatal(err)
		}
		prog := filepath.Join(bin, "check")
		writeProgram(t, prog)
		giveTo(t, home)
		err := CheckProgram(prog)
		if err == nil || !strings.Contains(err.Error(), home) {
			t.Fatalf("CheckProgram accepted a program under a directory uid %d owns (who may rename bin away): %v", otherUID, err)
		}
	})
	t.Run("root's or rotatord's own, in a sticky directory", func(t *testing.T) {
		prog := filepath.Join(t.TempDir(), "check")
		writeProgram(t, prog)
		if err := CheckProgram(prog); err != nil {
			t.Fatalf("CheckProgram refused rotatord's own program in its own directory: %v", err)
		}
	})
}

// A directory above the program's that everyone may write lets anyone
// rename the program's directory away.
func TestCheckProgramRefusesAWorldWritableAncestor(t *testing.T) {
	shared := filepath.Join(t.TempDir(), "shared")
	if err := os.Mkdir(shared, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(shared, 0o777); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(shared, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	prog := filepath.Join(bin, "check")
	writeProgram(t, prog)
	err := CheckProgram(prog)
	if err == nil || !strings.Contains(err.Error(), shared) {
		t.Fatalf("CheckProgram accepted a program whose parent's parent everyone may write: %v", err)
	}
}
