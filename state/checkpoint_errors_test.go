package state

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A checkpoint that cannot write a record file says which file, by its
// whole path: the operator who reads "is a directory" or "no space left"
// in the log must find the culprit without knowing how the store names
// its files. A temp name alone (".<hash>.json.tmp-x", relative to
// nothing) named neither the records directory nor the file in the way,
// and a rename refused by that file was reported as a failed write of
// the temp file.
func TestCheckpointErrorsNameTheRecordFile(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	defer s.Close()
	for _, n := range []string{"a", "b"} {
		if err := s.Put(Record{Policy: "p", Name: n, CurrentKeyID: "EXO0"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.checkpoint(); err != nil {
		t.Fatal(err)
	}
	records, err := filepath.EvalSymlinks(filepath.Join(dir, recordsDir))
	if err != nil {
		t.Fatal(err)
	}
	// Something else took a record's file name: a directory, not empty.
	block := func(name string) string {
		path := filepath.Join(records, fileName("p", name))
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(path, "x"), 0o700); err != nil {
			t.Fatal(err)
		}
		return path
	}

	// The new version of a cannot replace its file.
	pathA := block("a")
	if err := s.Put(Record{Policy: "p", Name: "a", CurrentKeyID: "EXO1"}); err != nil {
		t.Fatal(err)
	}
	err = s.checkpoint()
	if err == nil {
		t.Fatal("checkpoint succeeded with a directory in place of a record file")
	}
	for _, want := range []string{"p/a", pathA, "rename"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("checkpoint error %q does not name %s", err, want)
		}
	}
	if err := os.RemoveAll(pathA); err != nil {
		t.Fatal(err)
	}
	if err := s.checkpoint(); err != nil {
		t.Fatal(err)
	}

	// The deletion of b cannot remove its file.
	pathB := block("b")
	if err := s.Delete("p", "b"); err != nil {
		t.Fatal(err)
	}
	err = s.checkpoint()
	if err == nil {
		t.Fatal("checkpoint succeeded with a directory in place of a deleted record's file")
	}
	for _, want := range []string{"p/b", pathB} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("checkpoint error %q does not name %s", err, want)
		}
	}
	if err := os.RemoveAll(pathB); err != nil {
		t.Fatal(err)
	}
	if err := s.checkpoint(); err != nil {
		t.Fatal(err)
	}
	// Nothing left behind by the failed attempts.
	entries, err := os.ReadDir(records)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("a failed checkpoint left %s", e.Name())
		}
	}
}

// A checkpoint that meets a full disk names the file it was writing, in
// the records directory.
func TestCheckpointOnAFullDiskNamesTheRecordsDirectory(t *testing.T) {
	root := smallFS(t, 1<<20)
	dir := filepath.Join(root, "state")
	s := mustOpen(t, dir)
	defer s.Close()
	for i := range 20 {
		if err := s.Put(Record{Policy: "p", Name: fmt.Sprintf("n%02d", i), CurrentKeyID: "EXO0"}); err != nil {
			t.Fatal(err)
		}
	}
	fill(t, root, 0)
	err := s.checkpoint()
	if err == nil {
		t.Fatal("checkpoint succeeded on a full disk")
	}
	if want := filepath.Join(dir, recordsDir) + "/"; !strings.Contains(err.Error(), want) {
		t.Errorf("checkpoint error %q does not name the records directory %s", err, want)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, recordsDir))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("the failed checkpoint left %s", e.Name())
		}
	}
}
