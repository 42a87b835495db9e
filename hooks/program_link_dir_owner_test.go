package hooks

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A program named through a link that sits in a directory another user
// owns (their home: /home/alice/bin/check -> /usr/local/bin/check): the
// program itself is root's, but alice may repoint her link, or rename
// the link to a directory on the way, between the check and the exec, and
// her own program runs as rotatord. Not a sticky directory, so the rule
// of fs.protected_symlinks does not apply; every directory the path is
// resolved through counts, not only those above the program's real path.
func TestCheckProgramRefusesALinkInADirectoryAnotherUserOwns(t *testing.T) {
	realBin := filepath.Join(t.TempDir(), "bin")
	if err := os.Mkdir(realBin, 0o755); err != nil {
		t.Fatal(err)
	}
	prog := filepath.Join(realBin, "check")
	writeProgram(t, prog)
	if err := CheckProgram(prog); err != nil {
		t.Fatalf("the program itself is refused: %v", err)
	}
	t.Run("the program's link", func(t *testing.T) {
		home := filepath.Join(t.TempDir(), "home-alice")
		if err := os.Mkdir(home, 0o755); err != nil {
			t.Fatal(err)
		}
		link := filepath.Join(home, "check")
		if err := os.Symlink(prog, link); err != nil {
			t.Fatal(err)
		}
		giveTo(t, home)
		err := CheckProgram(link)
		if err == nil || !strings.Contains(err.Error(), home) {
			t.Fatalf("CheckProgram accepted a program named through a link in a directory uid %d owns: %v", otherUID, err)
		}
	})
	t.Run("a linked directory on the way", func(t *testing.T) {
		home := filepath.Join(t.TempDir(), "home-alice")
		if err := os.Mkdir(home, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(realBin, filepath.Join(home, "tools")); err != nil {
			t.Fatal(err)
		}
		giveTo(t, home)
		err := CheckProgram(filepath.Join(home, "tools", "check"))
		if err == nil || !strings.Contains(err.Error(), home) {
			t.Fatalf("CheckProgram accepted a program reached through a linked directory in a directory uid %d owns: %v", otherUID, err)
		}
	})
	t.Run("a link in a group-writable directory", func(t *testing.T) {
		team := filepath.Join(t.TempDir(), "team")
		if err := os.Mkdir(team, 0o755); err != nil {
			t.Fatal(err)
		}
		link := filepath.Join(team, "check")
		if err := os.Symlink(prog, link); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(team, 0o775); err != nil {
			t.Fatal(err)
		}
		err := CheckProgram(link)
		if err == nil || !strings.Contains(err.Error(), team) {
			t.Fatalf("CheckProgram accepted a program named through a link in a group-writable directory: %v", err)
		}
	})
	t.Run("links root and rotatord own, in their directories", func(t *testing.T) {
		own := filepath.Join(t.TempDir(), "own")
		if err := os.Mkdir(own, 0o755); err != nil {
			t.Fatal(err)
		}
		link := filepath.Join(own, "check")
		if err := os.Symlink(prog, link); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(realBin, filepath.Join(own, "tools")); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{link, filepath.Join(own, "tools", "check")} {
			if err := CheckProgram(p); err != nil {
				t.Errorf("CheckProgram refused %s: %v", p, err)
			}
		}
	})
}
