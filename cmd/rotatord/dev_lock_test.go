package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDevFolderLockHeldForLife: the first dev in a folder makes its marker
// and holds its lock; a second one in the same folder is refused at once,
// before anything is removed or written, and the next dev after the first
// has stopped finds the folder made by dev.
func TestDevFolderLockHeldForLife(t *testing.T) {
	dir := t.TempDir()
	open := func() *os.File {
		d, err := os.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		return d
	}
	first, made, err := lockDevDir(open())
	if err != nil || made {
		t.Fatalf("first dev: made %v, err %v; want a new folder locked", made, err)
	}
	if _, _, err := lockDevDir(open()); err == nil || !strings.Contains(err.Error(), "in use by another rotatord dev") {
		t.Fatalf("second dev while the first runs: %v, want it refused", err)
	}
	first.Close()
	again, made, err := lockDevDir(open())
	if err != nil || !made {
		t.Fatalf("dev after the first stopped: made %v, err %v; want the folder known as dev's", made, err)
	}
	again.Close()
}

// TestDevFolderWithACopiedHeaderIsNotDevs: a policy.yml that starts like
// dev's (copied from a demo) does not make a folder dev's: its state is
// left alone and dev refuses the folder.
func TestDevFolderWithACopiedHeaderIsNotDevs(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "policy.yml"), []byte(devHeader+": kept by hand\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "state"), 0o700); err != nil {
		t.Fatal(err)
	}
	keep := filepath.Join(dir, "state", "journal")
	if err := os.WriteFile(keep, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	lock, made, err := lockDevDir(d)
	if err != nil {
		t.Fatal(err)
	}
	lock.Close()
	if made {
		t.Fatal("a folder with dev's header but no marker counts as dev's")
	}
}
