package state

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// putAndClose writes r and closes the store, which checkpoints it into its
// record file.
func putAndClose(t *testing.T, dir string, r Record) {
	t.Helper()
	s := mustOpen(t, dir)
	if err := s.Put(r); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// recordOnDisk reads a record's file as an operator would, failing the
// test unless it is one whole JSON record.
func recordOnDisk(t *testing.T, dir string, policy, name string) (Record, os.FileInfo) {
	t.Helper()
	path := filepath.Join(dir, recordsDir, fileName(policy, name))
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%s is not one JSON record (%v): %q", path, err, b)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return r, fi
}

func inode(fi os.FileInfo) uint64 { return fi.Sys().(*syscall.Stat_t).Ino }

func TestCheckpointRewritesItsOwnFilesInPlace(t *testing.T) {
	dir := t.TempDir()
	long := Record{Policy: "p", Name: "n", CurrentKeyID: "EXO1", LastError: strings.Repeat("x", 500)}
	putAndClose(t, dir, long)
	_, before := recordOnDisk(t, dir, "p", "n")

	// Shorter, then longer than what the file holds.
	for _, r := range []Record{
		{Policy: "p", Name: "n", CurrentKeyID: "EXO2"},
		{Policy: "p", Name: "n", CurrentKeyID: "EXO3", LastError: strings.Repeat("y", 900)},
	} {
		putAndClose(t, dir, r)
		got, fi := recordOnDisk(t, dir, "p", "n")
		if got.CurrentKeyID != r.CurrentKeyID || got.LastError != r.LastError {
			t.Errorf("file holds %q/%d bytes of error, want %q/%d", got.CurrentKeyID, len(got.LastError), r.CurrentKeyID, len(r.LastError))
		}
		if inode(fi) != inode(before) {
			t.Errorf("the record's file was replaced (inode %d, was %d), want it rewritten in place", inode(fi), inode(before))
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("mode %04o, want 0600", fi.Mode().Perm())
		}
		s := mustOpen(t, dir)
		if g, _ := s.Get("p", "n"); g.CurrentKeyID != r.CurrentKeyID {
			t.Errorf("reopened: %q, want %q", g.CurrentKeyID, r.CurrentKeyID)
		}
		s.Close()
	}
}

// Files the checkpoint did not leave as they are now are replaced, as
// before: an overwrite would write through a link, or keep a mode an
// operator's tool set.
func TestCheckpointReplacesFilesItDoesNotOwnPlainly(t *testing.T) {
	cases := map[string]func(t *testing.T, path string) (check func(t *testing.T)){
		"hard link": func(t *testing.T, path string) func(t *testing.T) {
			backup := filepath.Join(filepath.Dir(path), "..", "backup.json")
			if err := os.Link(path, backup); err != nil {
				t.Fatal(err)
			}
			return func(t *testing.T) {
				b, err := os.ReadFile(backup)
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(string(b), "EXO1") || strings.Contains(string(b), "EXO2") {
					t.Errorf("the hard link elsewhere was rewritten: %s", b)
				}
			}
		},
		"symlink": func(t *testing.T, path string) func(t *testing.T) {
			elsewhere := filepath.Join(t.TempDir(), "elsewhere.json")
			if err := os.WriteFile(elsewhere, []byte("untouched"), 0o600); err != nil {
				t.Fatal(err)
			}
			os.Remove(path)
			if err := os.Symlink(elsewhere, path); err != nil {
				t.Fatal(err)
			}
			return func(t *testing.T) {
				if b, _ := os.ReadFile(elsewhere); string(b) != "untouched" {
					t.Errorf("written through a symlink: %q", b)
				}
			}
		},
		"mode 0644": func(t *testing.T, path string) func(t *testing.T) {
			if err := os.Chmod(path, 0o644); err != nil {
				t.Fatal(err)
			}
			return func(t *testing.T) {}
		},
		"a FIFO": func(t *testing.T, path string) func(t *testing.T) {
			os.Remove(path)
			if err := syscall.Mkfifo(path, 0o600); err != nil {
				t.Fatal(err)
			}
			return func(t *testing.T) {}
		},
	}
	for name, plant := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			putAndClose(t, dir, Record{Policy: "p", Name: "n", CurrentKeyID: "EXO1"})
			path := filepath.Join(dir, recordsDir, fileName("p", "n"))
			// Planted while the store is open: load would not read a FIFO
			// or a symlink as a record.
			s := mustOpen(t, dir)
			check := plant(t, path)
			if err := s.Put(Record{Policy: "p", Name: "n", CurrentKeyID: "EXO2"}); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			got, fi := recordOnDisk(t, dir, "p", "n")
			if got.CurrentKeyID != "EXO2" {
				t.Errorf("file holds %q, want EXO2", got.CurrentKeyID)
			}
			if !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
				t.Errorf("file is %v, want a regular file, mode 0600", fi.Mode())
			}
			if n := fi.Sys().(*syscall.Stat_t).Nlink; n != 1 {
				t.Errorf("%d links, want 1", n)
			}
			check(t)
		})
	}
}

// A crash in the middle of an overwrite leaves the file torn; the log the
// checkpoint had not yet removed holds the record, and load takes it from
// there without reading the file.
func TestTornRecordFileWithItsRecordInTheLogLoads(t *testing.T) {
	dir := t.TempDir()
	putAndClose(t, dir, Record{Policy: "p", Name: "n", CurrentKeyID: "EXO1", LastError: strings.Repeat("x", 300)})
	s := mustOpen(t, dir)
	if err := s.Put(Record{Policy: "p", Name: "n", CurrentKeyID: "EXO2"}); err != nil {
		t.Fatal(err)
	}
	crash(t, s)
	// What a checkpoint cut short leaves: the start of the new version over
	// the old one.
	path := filepath.Join(dir, recordsDir, fileName("p", "n"))
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte(`{"policy":"p","name":"n","curr`), 0); err != nil {
		t.Fatal(err)
	}
	f.Close()

	s = mustOpen(t, dir)
	defer s.Close()
	if r, ok := s.Get("p", "n"); !ok || r.CurrentKeyID != "EXO2" {
		t.Fatalf("after the crash: %q, %v; want EXO2 from the log", r.CurrentKeyID, ok)
	}
	// Open checkpointed it: the file is whole again.
	if r, _ := recordOnDisk(t, dir, "p", "n"); r.CurrentKeyID != "EXO2" {
		t.Errorf("file holds %q after Open, want EXO2", r.CurrentKeyID)
	}
}

// A read-only view that meets a file in the middle of an overwrite loads
// again; one that is broken for good is an error naming it.
func TestReadOnlyViewReadsATornFileAgain(t *testing.T) {
	dir := t.TempDir()
	putAndClose(t, dir, Record{Policy: "p", Name: "n", CurrentKeyID: "EXO1"})
	path := filepath.Join(dir, recordsDir, fileName("p", "n"))
	whole, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, whole[:len(whole)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	retries := 0
	saved := beforeReadOnlyRetry
	t.Cleanup(func() { beforeReadOnlyRetry = saved })
	beforeReadOnlyRetry = func() {
		retries++
		if err := os.WriteFile(path, whole, 0o600); err != nil { // the overwrite completes
			t.Error(err)
		}
	}
	v, err := OpenReadOnly(dir)
	if err != nil {
		t.Fatalf("the view failed on a file torn for a moment: %v", err)
	}
	if r, _ := v.Get("p", "n"); r.CurrentKeyID != "EXO1" || retries != 1 {
		t.Errorf("view holds %q after %d retries, want EXO1 after 1", r.CurrentKeyID, retries)
	}

	retries = 0
	beforeReadOnlyRetry = func() { retries++ }
	if err := os.WriteFile(path, whole[:len(whole)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenReadOnly(dir); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("a broken file: %v, want an error naming %s", err, path)
	}
	if retries != readOnlyAttempts-1 {
		t.Errorf("%d retries, want %d", retries, readOnlyAttempts-1)
	}
}

// What load meets in the records directory that is not a record file
// fails the load with an error naming it, and never waits (a FIFO would
// block a plain read for good).
func TestLoadRefusesRecordFilesThatAreNotPlainFiles(t *testing.T) {
	cases := map[string]func(t *testing.T, path string){
		"FIFO": func(t *testing.T, path string) {
			if err := syscall.Mkfifo(path, 0o600); err != nil {
				t.Fatal(err)
			}
		},
		"symlink to a record": func(t *testing.T, path string) {
			elsewhere := filepath.Join(t.TempDir(), "r.json")
			if err := os.WriteFile(elsewhere, []byte(`{"policy":"p","name":"x","current_key_id":"EXOevil"}`), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(elsewhere, path); err != nil {
				t.Fatal(err)
			}
		},
		"directory": func(t *testing.T, path string) {
			if err := os.Mkdir(path, 0o700); err != nil {
				t.Fatal(err)
			}
		},
		"huge": func(t *testing.T, path string) {
			if err := os.WriteFile(path, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(path, maxFrameSize+1); err != nil {
				t.Fatal(err)
			}
		},
	}
	for name, plant := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			putAndClose(t, dir, Record{Policy: "p", Name: "n", CurrentKeyID: "EXO1"})
			path := filepath.Join(dir, recordsDir, fileName("p", "x"))
			plant(t, path)
			done := make(chan error, 1)
			go func() {
				s, err := Open(dir)
				if err == nil {
					s.Close()
				}
				done <- err
			}()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), path) {
					t.Errorf("Open: %v, want an error naming %s", err, path)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Open hangs on it")
			}
		})
	}
}

// Many records load on several goroutines; each ends up under its own
// name, and a bad file among them is still the error.
func TestLoadOfManyRecords(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	const n = 1500
	for i := range n {
		if err := s.Put(Record{Policy: "p", Name: fmt.Sprintf("n%04d", i), CurrentKeyID: fmt.Sprintf("EXO%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, dir)
	for i := range n {
		if r, ok := s.Get("p", fmt.Sprintf("n%04d", i)); !ok || r.CurrentKeyID != fmt.Sprintf("EXO%d", i) {
			t.Fatalf("n%04d: %q, %v", i, r.CurrentKeyID, ok)
		}
	}
	if got := len(s.List("p")); got != n {
		t.Errorf("%d records, want %d", got, n)
	}
	s.Close()
	bad := filepath.Join(dir, recordsDir, fileName("p", "n1234"))
	if err := os.WriteFile(bad, []byte(`{"policy":"p","name":"n1235"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("Open: %v, want an error naming %s", err, bad)
	}
}
