package state

import (
	"os"
	"path/filepath"
	"testing"
)

// TestSymlinkedDirSwappedKeepsItsJournal: a state_dir reached through a
// symlink (state_dir: ./state beside a policy file in a directory that
// is a link, as /srv/rotatord/current -> releases/N) was used by path for
// every write: once the link was pointed elsewhere, the daemon wrote its
// journal into the new directory, whose lock it does not hold (a `once`
// could take it and rotate beside the daemon) and where the records of
// its rotations in flight are not. The directory is resolved when it is
// opened, and the store stays on it.
func TestSymlinkedDirSwappedKeepsItsJournal(t *testing.T) {
	base := t.TempDir()
	a, b := filepath.Join(base, "a"), filepath.Join(base, "b")
	for _, d := range []string{a, b} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	link := filepath.Join(base, "current")
	if err := os.Symlink("a", link); err != nil {
		t.Fatal(err)
	}
	s, err := Open(filepath.Join(link, "state"))
	if err != nil {
		t.Fatal(err)
	}
	// The link now points at b.
	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("b", link); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(Record{Policy: "ci", Name: "ci-runner", CurrentKeyID: "EXOaaa"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(b, "state")); err == nil {
		t.Error("the store wrote into the directory the link points at now")
	}
	s2, err := Open(filepath.Join(a, "state"))
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if _, ok := s2.Get("ci", "ci-runner"); !ok {
		t.Error("the record is not in the directory the store opened")
	}
}
