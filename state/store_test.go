package state

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPutGetSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	give := Record{
		Policy: "ci", Name: "ci/runner weird name", RoleID: "role",
		CurrentKeyID: "EXOaaa", CurrentSince: now,
		FirstSeen: KeyTimesOf(map[string]time.Time{"EXOaaa": now}),
		Rotation:  &Rotation{Phase: PhaseCreated, StartedAt: now, OldKeyIDs: []string{"EXOaaa"}, NewKeyID: "EXObbb"},
	}
	if err := s.Put(give); err != nil {
		t.Fatal(err)
	}
	// The copy handed back must not alias the store.
	got, _ := s.Get("ci", "ci/runner weird name")
	got.Rotation.OldKeyIDs[0] = "mutated"
	got.FirstSeen.Set("x", now)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	got, ok := s2.Get("ci", "ci/runner weird name")
	if !ok {
		t.Fatal("record lost across reopen")
	}
	if got.Rotation == nil || got.Rotation.NewKeyID != "EXObbb" || got.Rotation.OldKeyIDs[0] != "EXOaaa" {
		t.Errorf("rotation = %+v", got.Rotation)
	}
	if ok := got.FirstSeen.Has("x"); ok {
		t.Error("a caller's change to a returned record reached the store")
	}
	if !got.CurrentSince.Equal(now) {
		t.Errorf("CurrentSince = %v, want %v", got.CurrentSince, now)
	}
	if l := s2.List("ci"); len(l) != 1 {
		t.Errorf("List = %d records, want 1", len(l))
	}
	if l := s2.List("other"); len(l) != 0 {
		t.Errorf("List(other) = %d records, want 0", len(l))
	}
}

func TestSecondOpenIsRefused(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := Open(dir); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: err = %v, want ErrLocked", err)
	}
}

func TestFilesArePrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Put(Record{Policy: "p", Name: "n"}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("state dir mode = %04o, want 0700", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(filepath.Join(dir, recordsDir))
	for _, e := range entries {
		info, _ := e.Info()
		if info.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s mode = %04o, readable by others", e.Name(), info.Mode().Perm())
		}
	}
}

func TestOpenRefusesWritableByOthers(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err == nil {
		t.Fatal("Open accepted a world-writable state dir")
	}
}

func TestLeftoverTempFileIgnored(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(Record{Policy: "p", Name: "n", CurrentKeyID: "EXO1"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// A crash between CreateTemp and Rename leaves a half-written temp file.
	tmp := filepath.Join(dir, recordsDir, "."+fileName("p", "n")+".tmp-123")
	if err := os.WriteFile(tmp, []byte(`{"policy":"p","na`), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir)
	if err != nil {
		t.Fatalf("Open after crash: %v", err)
	}
	defer s.Close()
	if r, _ := s.Get("p", "n"); r.CurrentKeyID != "EXO1" {
		t.Errorf("CurrentKeyID = %q, want EXO1", r.CurrentKeyID)
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Error("leftover temp file not removed")
	}
}

func TestCorruptRecordIsAnError(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	bad := filepath.Join(dir, recordsDir, fileName("p", "n"))
	if err := os.WriteFile(bad, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Open(dir)
	if err == nil {
		t.Fatal("Open accepted a corrupt record")
	}
	if want := bad; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name the file %s", err, want)
	}
}

func TestDelete(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Put(Record{Policy: "p", Name: "n"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete("p", "n"); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Get("p", "n"); ok {
		t.Error("record still there after Delete")
	}
}

func TestReadOnlyWhileLocked(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Put(Record{Policy: "p", Name: "n", CurrentKeyID: "EXO1"}); err != nil {
		t.Fatal(err)
	}
	ro, err := OpenReadOnly(dir)
	if err != nil {
		t.Fatalf("OpenReadOnly while the daemon holds the lock: %v", err)
	}
	if r, ok := ro.Get("p", "n"); !ok || r.CurrentKeyID != "EXO1" {
		t.Errorf("read-only view = %+v, %v", r, ok)
	}
	if err := ro.Put(Record{Policy: "p", Name: "n"}); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Put on a read-only store: %v, want ErrReadOnly", err)
	}
	empty, err := OpenReadOnly(filepath.Join(dir, "missing"))
	if err != nil || len(empty.List("")) != 0 {
		t.Errorf("missing dir: %v, %d records", err, len(empty.List("")))
	}
	if _, err := os.Stat(filepath.Join(dir, "missing")); !os.IsNotExist(err) {
		t.Error("OpenReadOnly created the directory")
	}
}

func TestOpenRefusesRecordsDirWritableByOthers(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, recordsDir), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, recordsDir), 0o733); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), recordsDir) {
		t.Fatalf("Open = %v, want a refusal naming the records dir", err)
	}
}

func TestOpenRefusesAnotherUsersDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown")
	}
	dir := t.TempDir()
	if err := os.Chown(dir, 12345, 12345); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "owned by uid 12345") {
		t.Fatalf("Open = %v, want a refusal naming the owner", err)
	}
}

func TestStoreVersionCountsChanges(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	v0 := s.Version()
	r := Record{Policy: "p", Name: "n", CurrentKeyID: "k1"}
	if err := s.Put(r); err != nil {
		t.Fatal(err)
	}
	v1 := s.Version()
	if v1 == v0 {
		t.Fatal("Put did not change the version")
	}
	s.Get("p", "n")
	s.List("")
	s.Each("", func(*Record) {})
	if s.Version() != v1 {
		t.Fatal("reading changed the version")
	}
	if err := s.Delete("p", "n"); err != nil {
		t.Fatal(err)
	}
	if s.Version() == v1 {
		t.Fatal("Delete did not change the version")
	}
}
