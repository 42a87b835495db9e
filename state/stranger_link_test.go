package state

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// strangerUID owns the links the tests plant: a user who is neither root
// nor rotatord's.
const strangerUID = 4242

// plantStrangerLink makes link point at target and gives it to
// strangerUID (only root may chown a symlink: skipped otherwise).
func plantStrangerLink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(link, strangerUID, strangerUID); err != nil {
		t.Skipf("cannot give a symlink to another user (needs root): %v", err)
	}
}

// TestOpenRefusesStrangersSymlink: a state_dir reached through a symlink
// another user planted (in a directory of theirs on the path) was
// followed: the store created its records directory and lock where the
// link pointed, any directory root owns (a stale copy of the journal, or
// another program's directory), and rotated from the records there. A
// symlink on the path is followed only if root or rotatord's user owns
// it, as for a sink's directory; the store refuses before it creates
// anything.
func TestOpenRefusesStrangersSymlink(t *testing.T) {
	base := t.TempDir()
	victim := filepath.Join(base, "victim")
	if err := os.Mkdir(victim, 0o700); err != nil {
		t.Fatal(err)
	}
	theirs := filepath.Join(base, "theirs")
	if err := os.Mkdir(theirs, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, link, stateDir string }{
		{"the state directory", filepath.Join(theirs, "state"), filepath.Join(theirs, "state")},
		{"a parent", filepath.Join(theirs, "up"), filepath.Join(theirs, "up", "state")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plantStrangerLink(t, victim, tc.link)
			defer os.Remove(tc.link)
			for _, open := range []struct {
				name string
				f    func(string) (*Store, error)
			}{{"Open", Open}, {"OpenReadOnly", OpenReadOnly}} {
				s, err := open.f(tc.stateDir)
				if err == nil {
					s.Close()
					t.Errorf("%s followed a symlink uid %d owns", open.name, strangerUID)
				} else if !strings.Contains(err.Error(), tc.link) || !strings.Contains(err.Error(), "symlink owned by uid 4242") {
					t.Errorf("%s: error %q does not name the link and its owner", open.name, err)
				}
			}
			entries, err := os.ReadDir(victim)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 0 {
				t.Errorf("the directory the link points at got %d entries (%s...)", len(entries), entries[0].Name())
			}
		})
	}
}

// TestOpenFollowsOwnSymlinks: links root or rotatord's user made are
// followed, relative ones and ".." included.
func TestOpenFollowsOwnSymlinks(t *testing.T) {
	base := t.TempDir()
	real := filepath.Join(base, "releases", "1")
	if err := os.MkdirAll(real, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("releases/1/../1", filepath.Join(base, "current")); err != nil {
		t.Fatal(err)
	}
	s, err := Open(filepath.Join(base, "current", "state"))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := os.Stat(filepath.Join(real, "state", recordsDir)); errors.Is(err, fs.ErrNotExist) {
		t.Error("the store is not where the link points")
	}
}
