package hooks

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// otherUID owns the links a stranger planted: nobody on most systems.
const otherUID = 65534

// strangersLink makes, in dir, name as a link to target owned by
// otherUID. Only root may give a file away: elsewhere the test is skipped.
func strangersLink(t *testing.T, dir, name, target string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: a link owned by another user is made with Lchown, which only root may do")
	}
	link := filepath.Join(dir, name)
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(link, otherUID, otherUID); err != nil {
		t.Skipf("cannot give a link to uid %d: %v", otherUID, err)
	}
	return link
}

// stickyDir makes a sticky directory everyone may write, as /tmp is.
func stickyDir(t *testing.T, root, name string) string {
	t.Helper()
	d := filepath.Join(root, name)
	if err := os.Mkdir(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d, os.ModeSticky|0o777); err != nil {
		t.Fatal(err)
	}
	return d
}

// A link in a sticky directory everyone may write (/tmp), owned by
// another user, may be repointed by that user between the check and the
// exec: the kernel's fs.protected_symlinks follows such a link only for
// its owner or the directory's. CheckProgram refuses it wherever it is on
// the path: the program itself, a directory on the way, or a link
// reached through another link; and names the link and why.
func TestCheckProgramRefusesAStrangersLinkInAStickyDirectory(t *testing.T) {
	root := t.TempDir()
	safe := filepath.Join(root, "safe")
	if err := os.Mkdir(safe, 0o755); err != nil {
		t.Fatal(err)
	}
	prog := filepath.Join(safe, "check")
	if err := os.WriteFile(prog, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := stickyDir(t, root, "tmp")

	fileLink := strangersLink(t, tmp, "check", prog)
	dirLink := strangersLink(t, tmp, "hooks", safe)
	viaDir := filepath.Join(dirLink, "check")
	// A link in a safe directory to the stranger's link.
	hop := filepath.Join(safe, "hop")
	if err := os.Symlink(fileLink, hop); err != nil {
		t.Fatal(err)
	}
	// A relative link climbing back into the sticky directory.
	up := filepath.Join(safe, "up")
	if err := os.Symlink("../tmp/check", up); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ give, link string }{
		{fileLink, fileLink},
		{viaDir, dirLink},
		{hop, fileLink},
		{up, fileLink},
	} {
		err := CheckProgram(c.give)
		if err == nil {
			t.Errorf("CheckProgram(%s) = nil, want the link %s owned by uid %d in sticky %s refused", c.give, c.link, otherUID, tmp)
			continue
		}
		for _, want := range []string{c.link, "uid 65534", tmp, "repoint"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("CheckProgram(%s) = %q, want it to say %q", c.give, err, want)
			}
		}
		if err := (Exec{Command: []string{c.give}}).Run(t.Context(), testEvent()); err == nil {
			t.Errorf("Exec of %s ran through a stranger's link", c.give)
		}
	}

	// The program itself, and links rotatord's own user made there, pass.
	own := filepath.Join(tmp, "own")
	if err := os.Symlink(prog, own); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{prog, own} {
		if err := CheckProgram(p); err != nil {
			t.Errorf("CheckProgram(%s) = %v, want nil", p, err)
		}
	}
}

// The kernel follows a link owned by the sticky directory's owner, but
// when that owner is neither root nor rotatord's user, they may replace
// anything in their directory, the link included: refused, as any
// directory on the way another user owns.
func TestCheckProgramRefusesALinkInAStickyDirectoryAnotherUserOwns(t *testing.T) {
	root := t.TempDir()
	prog := filepath.Join(root, "check")
	if err := os.WriteFile(prog, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := stickyDir(t, root, "shared")
	link := strangersLink(t, tmp, "check", prog)
	if err := os.Lchown(tmp, otherUID, otherUID); err != nil {
		t.Skipf("cannot give the directory to uid %d: %v", otherUID, err)
	}
	err := CheckProgram(link)
	if err == nil || !strings.Contains(err.Error(), tmp) || !strings.Contains(err.Error(), "uid 65534") {
		t.Errorf("CheckProgram(%s), a link of the sticky directory's owner uid %d = %v, want a refusal naming the directory", link, otherUID, err)
	}
}
