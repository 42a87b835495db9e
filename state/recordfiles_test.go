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

// A record the logs hold is taken from them, and its file is not read: a
// file that is not whole (an operator's edit cut short, a crash) does not
// stop the store from opening while the logs have the record.
func TestARecordTheLogsHoldIsNotReadFromItsFile(t *testing.T) {
	dir := t.TempDir()
	putAndClose(t, dir, Record{Policy: "p", Name: "n", CurrentKeyID: "EXO1", LastError: strings.Repeat("x", 300)})
	s := mustOpen(t, dir)
	if err := s.Put(Record{Policy: "p", Name: "n", CurrentKeyID: "EXO2"}); err != nil {
		t.Fatal(err)
	}
	crash(t, s)
	// The start of a new version over the old one.
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
			if err := os.Truncate(path, maxRecordFile+1); err != nil {
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
// name, whole whatever the size of the one read before it, and a bad file
// among them is still the error.
func TestLoadOfManyRecords(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	const n = 1500
	for i := range n {
		if err := s.Put(Record{Policy: "p", Name: fmt.Sprintf("n%04d", i), CurrentKeyID: fmt.Sprintf("EXO%d", i), LastError: lastErrorOf(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, dir)
	for i := range n {
		if r, ok := s.Get("p", fmt.Sprintf("n%04d", i)); !ok || r.CurrentKeyID != fmt.Sprintf("EXO%d", i) || r.LastError != lastErrorOf(i) {
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

// lastErrorOf gives every seventh record a long error, longer each time.
func lastErrorOf(i int) string {
	if i%7 != 0 {
		return ""
	}
	return strings.Repeat("e", 10*i)
}
