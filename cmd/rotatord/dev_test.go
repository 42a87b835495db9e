package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runDev runs `rotatord dev` in dir for a moment.
func runDev(t *testing.T, dir string) error {
	t.Helper()
	return cmdDev([]string{"--dir", dir, "--duration", "1ms", "--listen", "127.0.0.1:0", "--log-level", "error"}, io.Discard, io.Discard)
}

// TestDevDoesNotWriteThroughSymlinks: symlinks in an existing demo
// directory are replaced, never written through (issue 11).
func TestDevDoesNotWriteThroughSymlinks(t *testing.T) {
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "dev")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	victim := filepath.Join(tmp, "victim")
	if err := os.WriteFile(victim, []byte("precious\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"admin-secret", "policy.yml"} {
		if err := os.Symlink(victim, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := runDev(t, dir); err != nil {
		t.Fatalf("dev: %v", err)
	}
	if b, err := os.ReadFile(victim); err != nil || string(b) != "precious\n" {
		t.Errorf("the symlink's target now holds %q (%v)", b, err)
	}
	for _, name := range []string{"admin-secret", "policy.yml"} {
		fi, err := os.Lstat(filepath.Join(dir, name))
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, %v; want a regular file, mode 0600", name, fi, err)
		}
	}
}

// TestDevRefusesDirectoryOthersCanWrite: an existing demo directory other
// users can write, or a symlink in its place, is refused before anything
// is written (issue 11).
func TestDevRefusesDirectoryOthersCanWrite(t *testing.T) {
	for _, tt := range []struct {
		name string
		give func(t *testing.T, dir string)
		want string
	}{
		{name: "world writable", give: func(t *testing.T, dir string) { mkdirMode(t, dir, 0o777) }, want: "can be written by other users (mode 0777)"},
		{name: "sticky world writable", give: func(t *testing.T, dir string) { mkdirMode(t, dir, os.ModeSticky|0o777) }, want: "can be written by other users (mode 01777)"},
		{name: "group writable", give: func(t *testing.T, dir string) { mkdirMode(t, dir, 0o770) }, want: "can be written by other users (mode 0770)"},
		{name: "out world writable", give: func(t *testing.T, dir string) {
			mkdirMode(t, dir, 0o700)
			mkdirMode(t, filepath.Join(dir, "out"), 0o777)
		}, want: "out can be written by other users"},
		{name: "symlink", give: func(t *testing.T, dir string) {
			mkdirMode(t, dir+".real", 0o700)
			if err := os.Symlink(dir+".real", dir); err != nil {
				t.Fatal(err)
			}
		}, want: "is not a directory (a symlink is not followed"},
		{name: "another user's", give: func(t *testing.T, dir string) {
			if os.Geteuid() != 0 {
				t.Skip("needs root to give a directory to another user")
			}
			mkdirMode(t, dir, 0o755)
			if err := os.Chown(dir, 65534, 65534); err != nil {
				t.Fatal(err)
			}
		}, want: "belongs to uid 65534"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "dev")
			tt.give(t, dir)
			err := runDev(t, dir)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), dir) {
				t.Fatalf("dev = %v, want an error naming %s and containing %q", err, dir, tt.want)
			}
			for _, name := range []string{"admin-secret", "policy.yml"} {
				if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
					t.Errorf("dev wrote %s in a directory it refused", name)
				}
			}
		})
	}
}

func mkdirMode(t *testing.T, dir string, mode os.FileMode) {
	t.Helper()
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, mode); err != nil {
		t.Fatal(err)
	}
}
