package state

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// crash stops s as a SIGKILL would: no checkpoint, the log and the lock
// just closed.
func crash(t *testing.T, s *Store) {
	t.Helper()
	s.mu.Lock()
	s.closing = true
	if s.idle != nil {
		s.idle.Stop()
	}
	s.mu.Unlock()
	s.background.Wait()
	s.writeMu.Lock()
	if s.log != nil {
		s.log.close()
		s.log = nil
	}
	s.writeMu.Unlock()
	s.lock.Close()
	s.lock = nil
}

func logFiles(t *testing.T, dir string) []walFile {
	t.Helper()
	logs, err := listWALs(dir)
	if err != nil {
		t.Fatal(err)
	}
	return logs
}

func recordFiles(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, recordsDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func mustOpen(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLogReplayedAfterCrash(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			name := fmt.Sprintf("n%02d", i)
			for v := range 3 {
				if err := s.Put(Record{Policy: "p", Name: name, CurrentKeyID: fmt.Sprintf("EXO%d-%d", i, v)}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if err := s.Delete("p", "n07"); err != nil {
		t.Fatal(err)
	}
	// A step is one log append: no record file is written before a
	// checkpoint.
	if files := recordFiles(t, dir); len(files) != 0 {
		t.Fatalf("%d record files written by Put, want none before a checkpoint", len(files))
	}
	crash(t, s)

	s = mustOpen(t, dir)
	defer s.Close()
	for i := range 50 {
		name := fmt.Sprintf("n%02d", i)
		r, ok := s.Get("p", name)
		if i == 7 {
			if ok {
				t.Errorf("%s: deleted, yet back after the crash", name)
			}
			continue
		}
		if want := fmt.Sprintf("EXO%d-2", i); !ok || r.CurrentKeyID != want {
			t.Errorf("%s: %q, %v after the crash, want %q", name, r.CurrentKeyID, ok, want)
		}
	}
	// Open checkpointed what the crash left in the log.
	if files := recordFiles(t, dir); len(files) != 49 {
		t.Errorf("%d record files after Open, want 49", len(files))
	}
	if logs := logFiles(t, dir); len(logs) != 0 {
		t.Errorf("%d logs after Open, want none until a write: %v", len(logs), logs)
	}
}

func TestTornLogTailIgnored(t *testing.T) {
	for name, tail := range map[string][]byte{
		"short frame": appendFrame(nil, []byte(`{"put":{"policy":"p","name":"x","current_key_id":"EXOtorn"}}`))[:20],
		"bad checksum": func() []byte {
			b := appendFrame(nil, []byte(`{"put":{"policy":"p","name":"x"}}`))
			b[len(b)-2] ^= 1
			return b
		}(),
		"zeros":       make([]byte, 4096),
		"huge length": {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 'x'},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			s := mustOpen(t, dir)
			for _, id := range []string{"EXO1", "EXO2"} {
				if err := s.Put(Record{Policy: "p", Name: "n", CurrentKeyID: id}); err != nil {
					t.Fatal(err)
				}
			}
			path, end := s.log.path, s.log.Size()
			crash(t, s)
			// What a crash during the next batch may leave where it went.
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt(tail, end); err != nil {
				t.Fatal(err)
			}
			f.Close()

			s = mustOpen(t, dir)
			defer s.Close()
			if r, _ := s.Get("p", "n"); r.CurrentKeyID != "EXO2" {
				t.Errorf("CurrentKeyID = %q, want EXO2", r.CurrentKeyID)
			}
			if s.Has("p", "x") {
				t.Error("a record of the torn tail was loaded")
			}
		})
	}
}

// TestTornRecordFileCoveredByLog: a crash during a checkpoint, before its
// sync, may leave a record file torn; the log still holds that record, and
// wins.
func TestTornRecordFileCoveredByLog(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	if err := s.Put(Record{Policy: "p", Name: "n", CurrentKeyID: "EXO1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, dir)
	if err := s.Put(Record{Policy: "p", Name: "n", CurrentKeyID: "EXO2"}); err != nil {
		t.Fatal(err)
	}
	crash(t, s)
	if err := os.WriteFile(filepath.Join(dir, recordsDir, fileName("p", "n")), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, dir)
	defer s.Close()
	if r, _ := s.Get("p", "n"); r.CurrentKeyID != "EXO2" {
		t.Errorf("CurrentKeyID = %q, want EXO2 from the log", r.CurrentKeyID)
	}
}

// TestCloseLeavesRecordFiles: at rest the state is the record files alone,
// current, and an operator's edit of one (rotatord stopped) is what the
// next start loads.
func TestCloseLeavesRecordFiles(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	for _, n := range []string{"a", "b", "c"} {
		if err := s.Put(Record{Policy: "p", Name: n, CurrentKeyID: "EXO-" + n}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Delete("p", "b"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if logs := logFiles(t, dir); len(logs) != 0 {
		t.Errorf("logs left after Close: %v", logs)
	}
	files := recordFiles(t, dir)
	if len(files) != 2 {
		t.Fatalf("%d record files, want 2", len(files))
	}
	path := filepath.Join(dir, recordsDir, fileName("p", "a"))
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"current_key_id": "EXO-a"`) {
		t.Fatalf("record file:\n%s", b)
	}
	edited := strings.Replace(string(b), "EXO-a", "EXO-edited", 1)
	if err := os.WriteFile(path, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, dir)
	defer s.Close()
	if r, _ := s.Get("p", "a"); r.CurrentKeyID != "EXO-edited" {
		t.Errorf("CurrentKeyID = %q, want the edit", r.CurrentKeyID)
	}
	if s.Has("p", "b") {
		t.Error("deleted record back")
	}
}

func TestCheckpointBySize(t *testing.T) {
	defer func(n int64) { walCheckpointSize = n }(walCheckpointSize)
	walCheckpointSize = 4 << 10
	dir := t.TempDir()
	s := mustOpen(t, dir)
	for v := range 2 {
		for i := range 200 {
			if err := s.Put(Record{Policy: "p", Name: fmt.Sprintf("n%03d", i), CurrentKeyID: fmt.Sprintf("EXO%d-%d", i, v)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	s.background.Wait()
	if files := recordFiles(t, dir); len(files) < 150 {
		t.Errorf("%d record files written by checkpoints, want most of 200", len(files))
	}
	if logs := logFiles(t, dir); len(logs) > 2 {
		t.Errorf("%d logs: checkpoints do not remove them", len(logs))
	}
	crash(t, s)
	s = mustOpen(t, dir)
	defer s.Close()
	for i := range 200 {
		name := fmt.Sprintf("n%03d", i)
		if r, _ := s.Get("p", name); r.CurrentKeyID != fmt.Sprintf("EXO%d-1", i) {
			t.Errorf("%s: %q", name, r.CurrentKeyID)
		}
	}
}

func TestIdleCheckpoint(t *testing.T) {
	defer func(d time.Duration) { walIdleCheckpoint = d }(walIdleCheckpoint)
	walIdleCheckpoint = time.Millisecond
	dir := t.TempDir()
	s := mustOpen(t, dir)
	defer s.Close()
	if err := s.Put(Record{Policy: "p", Name: "n", CurrentKeyID: "EXO1"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(recordFiles(t, dir)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no checkpoint after the writes stopped")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestFailedCheckpointKeepsLogs(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	s.syncFS = func(*os.File) error { return errors.New("disk on fire") }
	if err := s.Put(Record{Policy: "p", Name: "n", CurrentKeyID: "EXO1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.checkpoint(); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("checkpoint = %v, want the sync's error", err)
	}
	if logs := logFiles(t, dir); len(logs) != 1 {
		t.Errorf("%d logs after a failed checkpoint, want the one it could not cover kept", len(logs))
	}
	// Simulate the torn file such a crash may leave.
	os.WriteFile(filepath.Join(dir, recordsDir, fileName("p", "n")), []byte(`{"pol`), 0o600)
	crash(t, s)
	s = mustOpen(t, dir)
	defer s.Close()
	if r, _ := s.Get("p", "n"); r.CurrentKeyID != "EXO1" {
		t.Errorf("CurrentKeyID = %q, want EXO1", r.CurrentKeyID)
	}
}

func TestForeignLogIsAnError(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	s.Close()
	bad := filepath.Join(dir, walName(7))
	if err := os.WriteFile(bad, []byte("not a log at all, longer than the header"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir)
	if err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("Open = %v, want an error naming %s", err, bad)
	}
}

func TestReadOnlySeesTheLog(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	defer s.Close()
	if err := s.Put(Record{Policy: "p", Name: "n", CurrentKeyID: "EXO1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(Record{Policy: "p", Name: "gone"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete("p", "gone"); err != nil {
		t.Fatal(err)
	}
	ro, err := OpenReadOnly(dir)
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := ro.Get("p", "n"); !ok || r.CurrentKeyID != "EXO1" {
		t.Errorf("read-only view: %+v, %v", r, ok)
	}
	if ro.Has("p", "gone") {
		t.Error("read-only view shows a deleted record")
	}
}

// TestGroupCommit: the Puts that arrive while a batch is being synced go
// out together, in one write and one sync.
func TestGroupCommit(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	defer s.Close()
	release := make(chan struct{})
	var syncs atomic.Int32
	s.logSync = func(f *os.File) error {
		if syncs.Add(1) == 1 {
			<-release
		}
		return fdatasync(f)
	}
	const n = 32
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := s.Put(Record{Policy: "p", Name: "first"}); err != nil {
			t.Error(err)
		}
	})
	for syncs.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	for i := range n {
		wg.Go(func() {
			if err := s.Put(Record{Policy: "p", Name: fmt.Sprint(i)}); err != nil {
				t.Error(err)
			}
		})
	}
	// Wait until every one of them is queued behind the first sync.
	for {
		s.log.mu.Lock()
		queued := len(s.log.pending)
		s.log.mu.Unlock()
		if queued >= n*(8+len(`{"put":{"policy":"p","name":"0"}}`)) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if got := syncs.Load(); got != 2 {
		t.Errorf("%d syncs for %d Puts queued behind one, want 2", got, n+1)
	}
	if got := len(s.List("p")); got != n+1 {
		t.Errorf("%d records, want %d", got, n+1)
	}
}

// TestFailedLogWriteIsUndone: a batch whose sync fails is an error for its
// callers, is cut from the log, and later batches are not read after it.
func TestFailedLogWriteIsUndone(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	fail := true
	s.logSync = func(f *os.File) error {
		if fail {
			fail = false
			return errors.New("EIO")
		}
		return fdatasync(f)
	}
	if err := s.Put(Record{Policy: "p", Name: "lost", CurrentKeyID: "EXO1"}); err == nil {
		t.Fatal("Put succeeded with a failed sync")
	}
	if s.Has("p", "lost") {
		t.Error("a failed Put reached the in-memory view")
	}
	if err := s.Put(Record{Policy: "p", Name: "kept", CurrentKeyID: "EXO2"}); err != nil {
		t.Fatal(err)
	}
	crash(t, s)
	s = mustOpen(t, dir)
	defer s.Close()
	if s.Has("p", "lost") {
		t.Error("the failed Put is in the log")
	}
	if r, _ := s.Get("p", "kept"); r.CurrentKeyID != "EXO2" {
		t.Errorf("kept: %q, want EXO2", r.CurrentKeyID)
	}
}

func TestLogIsPrivate(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	defer s.Close()
	if err := s.Put(Record{Policy: "p", Name: "n"}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(s.log.path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("log mode %04o, want 0600", fi.Mode().Perm())
	}
}

func TestWriteAfterCloseFails(t *testing.T) {
	s := mustOpen(t, t.TempDir())
	s.Close()
	if err := s.Put(Record{Policy: "p", Name: "n"}); !errors.Is(err, ErrClosed) {
		t.Errorf("Put after Close: %v, want ErrClosed", err)
	}
}

// TestOpenWritesNothing: a store nobody writes to leaves the directory as
// it found it, so rotatord starts (and plan, validate, a no-op pass run)
// on a full disk.
func TestOpenWritesNothing(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	if err := s.Put(Record{Policy: "p", Name: "n", CurrentKeyID: "EXO1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	before := recordFiles(t, dir)
	s = mustOpen(t, dir)
	if logs := logFiles(t, dir); len(logs) != 0 {
		t.Errorf("Open created logs: %v", logs)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if after := recordFiles(t, dir); len(after) != len(before) || len(logFiles(t, dir)) != 0 {
		t.Errorf("files after an idle Open and Close: %v, logs %v", after, logFiles(t, dir))
	}
}

// TestBrokenLogIsReplaced: a log whose failed write could not be undone
// refuses every later write; a checkpoint replaces it, so writes work
// again without a restart, and nothing acknowledged is lost.
func TestBrokenLogIsReplaced(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	if err := s.Put(Record{Policy: "p", Name: "a", CurrentKeyID: "EXO1"}); err != nil {
		t.Fatal(err)
	}
	s.log.mu.Lock()
	s.log.broken = errors.New("cannot undo a failed write")
	s.log.mu.Unlock()
	if err := s.Put(Record{Policy: "p", Name: "b", CurrentKeyID: "EXO2"}); err == nil {
		t.Fatal("Put on a broken log succeeded")
	}
	s.background.Wait()
	if err := s.Put(Record{Policy: "p", Name: "b", CurrentKeyID: "EXO2"}); err != nil {
		t.Fatalf("Put after the broken log was replaced: %v", err)
	}
	crash(t, s)
	s = mustOpen(t, dir)
	defer s.Close()
	for name, want := range map[string]string{"a": "EXO1", "b": "EXO2"} {
		if r, _ := s.Get("p", name); r.CurrentKeyID != want {
			t.Errorf("%s = %q, want %q", name, r.CurrentKeyID, want)
		}
	}
}
