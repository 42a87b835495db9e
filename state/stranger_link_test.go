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

// TestOpenRefusesAMovableDirectory: the store works on its directory by
// path (each checkpoint, each new log), so a user who could rename an
// entry of a directory on the path could move the journal away (the next
// start began from an empty one, forgetting the rotations in flight) or
// put a directory of theirs in its place. Every directory on the path
// must be owned by root or rotatord's user and writable by others only
// with the sticky bit.
func TestOpenRefusesAMovableDirectory(t *testing.T) {
	chown := func(t *testing.T, p string, uid, gid int) {
		t.Helper()
		if err := os.Chown(p, uid, gid); err != nil {
			t.Skipf("cannot give a directory to another user (needs root): %v", err)
		}
	}
	for _, tc := range []struct {
		name    string
		prepare func(t *testing.T, parent string)
		wantErr string // "" must open
	}{
		{"parent owned by another user", func(t *testing.T, p string) { chown(t, p, strangerUID, os.Getegid()) }, "owned by uid 4242"},
		{"parent writable by all", func(t *testing.T, p string) { os.Chmod(p, 0o777) }, "writable by all users (mode 0777)"},
		{"parent writable by all, sticky", func(t *testing.T, p string) { os.Chmod(p, 0o777|fs.ModeSticky) }, ""},
		{"parent writable by another group", func(t *testing.T, p string) {
			chown(t, p, os.Geteuid(), strangerUID)
			os.Chmod(p, 0o775)
		}, "writable by group 4242"},
		{"parent writable by rotatord's group", func(t *testing.T, p string) { os.Chmod(p, 0o775) }, ""},
		{"grandparent owned by another user", func(t *testing.T, p string) { chown(t, filepath.Dir(p), strangerUID, os.Getegid()) }, "owned by uid 4242"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent := filepath.Join(t.TempDir(), "g", "p")
			if err := os.MkdirAll(parent, 0o755); err != nil {
				t.Fatal(err)
			}
			tc.prepare(t, parent)
			for _, missing := range []bool{true, false} {
				dir := filepath.Join(parent, "state")
				if !missing {
					if err := os.MkdirAll(filepath.Join(dir, recordsDir), 0o700); err != nil {
						t.Fatal(err)
					}
				}
				for _, open := range []struct {
					name string
					f    func(string) (*Store, error)
				}{{"Open", Open}, {"OpenReadOnly", OpenReadOnly}} {
					s, err := open.f(dir)
					if err == nil {
						s.Close()
					}
					switch {
					case tc.wantErr == "" && err != nil:
						t.Errorf("%s (state dir there already: %v): %v", open.name, !missing, err)
					case tc.wantErr != "" && err == nil:
						t.Errorf("%s (state dir there already: %v) accepted it", open.name, !missing)
					case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
						t.Errorf("%s: error %q, want it to say %q", open.name, err, tc.wantErr)
					}
				}
				if missing && tc.wantErr != "" {
					if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
						t.Errorf("the refused state directory was created")
					}
				}
			}
		})
	}
}

// TestOpenReadOnlyTrustsTheStateDirsOwner: plan and state export read the
// journal with OpenReadOnly, often as another user than the daemon's (root
// on a systemd host, where /var/lib/rotatord belongs to rotatord). CheckPath
// judged the path as if the reader were rotatord: the state directory
// itself, owned by the daemon's user, was "owned by another user", and
// `sudo rotatord state export` and `plan`, which worked before, were
// refused. Whoever owns the state directory can write its records anyway:
// a reader also trusts that owner for the directories on the path (not
// for symlinks), as the daemon, running as that owner, does. A directory
// of a third user is still refused, and Open still refuses all of it.
func TestOpenReadOnlyTrustsTheStateDirsOwner(t *testing.T) {
	const daemonUID = strangerUID + 1
	for _, tc := range []struct {
		name      string
		parentUID int
		wantErr   string // for OpenReadOnly; "" must open
	}{
		{"parent root's", 0, ""},
		{"parent the owner's", daemonUID, ""},
		{"parent a third user's", strangerUID, "owned by uid 4242"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent := filepath.Join(t.TempDir(), "p")
			dir := filepath.Join(parent, "state")
			if err := os.MkdirAll(filepath.Join(dir, recordsDir), 0o700); err != nil {
				t.Fatal(err)
			}
			for _, p := range []string{filepath.Join(dir, recordsDir), dir} {
				if err := os.Chown(p, daemonUID, daemonUID); err != nil {
					t.Skipf("cannot give a directory to another user (needs root): %v", err)
				}
			}
			if err := os.Chown(parent, tc.parentUID, 0); err != nil {
				t.Fatal(err)
			}
			s, err := OpenReadOnly(dir)
			switch {
			case err == nil:
				s.Close()
				if tc.wantErr != "" {
					t.Errorf("OpenReadOnly accepted a parent uid %d owns", tc.parentUID)
				}
			case tc.wantErr == "":
				t.Errorf("OpenReadOnly refused the state directory of uid %d: %v", daemonUID, err)
			case !strings.Contains(err.Error(), tc.wantErr):
				t.Errorf("OpenReadOnly: error %q, want it to say %q", err, tc.wantErr)
			}
			if s, err := Open(dir); err == nil {
				s.Close()
				t.Errorf("Open accepted a state directory uid %d owns", daemonUID)
			}
		})
	}
}

// TestOpenReadOnlyDoesNotTrustAPlantedStateDir: 3543135 has a reader
// (plan, state export, run as root) trust the state directory's owner with
// the directories on its path. In a directory where any user may create
// entries (sticky and writable by others, as /tmp), whoever made the state
// directory owns it: a third user's directory planted there (before the
// daemon first made it, or after a cleaner removed it) was read as the
// daemon's journal, and state export handed its records to state import,
// while Open, the daemon, refuses it. The owner is trusted only where
// root or the owner made the directory (TestOpenReadOnlyTrustsTheStateDirsOwner).
func TestOpenReadOnlyDoesNotTrustAPlantedStateDir(t *testing.T) {
	tmp := filepath.Join(t.TempDir(), "tmp")
	if err := os.Mkdir(tmp, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(tmp, os.ModeSticky|0o777); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(tmp, "state")
	if err := os.MkdirAll(filepath.Join(dir, recordsDir), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(dir, recordsDir), dir} {
		if err := os.Chown(p, strangerUID, strangerUID); err != nil {
			t.Skipf("cannot give a directory to another user (needs root): %v", err)
		}
	}
	if s, err := OpenReadOnly(dir); err == nil {
		s.Close()
		t.Error("OpenReadOnly read a state directory uid 4242 may have planted in a sticky directory anyone can write")
	} else if !strings.Contains(err.Error(), "uid 4242") {
		t.Errorf("OpenReadOnly: error %q does not name the directory's owner", err)
	}
	// Nor one level down: the directory of theirs it is in was planted.
	deeper := filepath.Join(tmp, "x", "state")
	if err := os.MkdirAll(filepath.Join(deeper, recordsDir), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(deeper, recordsDir), deeper, filepath.Dir(deeper)} {
		if err := os.Chown(p, strangerUID, strangerUID); err != nil {
			t.Fatal(err)
		}
	}
	if s, err := OpenReadOnly(deeper); err == nil {
		s.Close()
		t.Error("OpenReadOnly read a state directory in a directory uid 4242 may have planted in a sticky directory")
	}
}
