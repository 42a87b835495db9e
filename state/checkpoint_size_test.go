package state

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Checkpoints by size run during long passes (walCheckpointSize). These
// tests come from the review of that change.

// While one checkpoint waits on a slow syncfs, the writes past the size
// queue one more checkpoint, not a goroutine each.
func TestSlowCheckpointQueuesOneMore(t *testing.T) {
	defer func(n int64, d time.Duration) { walCheckpointSize, walIdleCheckpoint = n, d }(walCheckpointSize, walIdleCheckpoint)
	walCheckpointSize, walIdleCheckpoint = 4<<10, time.Hour
	s := mustOpen(t, t.TempDir())
	release, first := make(chan struct{}), make(chan struct{})
	var syncs atomic.Int64
	s.syncFS = func(d *os.File) error {
		if syncs.Add(1) == 1 {
			close(first)
			<-release // a syncfs that takes a while on a busy disk
		}
		return syncFS(d)
	}
	put := func(i int) {
		t.Helper()
		if err := s.Put(Record{Policy: "p", Name: fmt.Sprintf("n%04d", i%50), CurrentKeyID: fmt.Sprintf("EXO%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	before := runtime.NumGoroutine()
	i := 0
	for ; ; i++ {
		put(i)
		select {
		case <-first:
		default:
			continue
		}
		break
	}
	for range 400 { // the pass goes on, each write past the size
		i++
		put(i)
	}
	time.Sleep(50 * time.Millisecond)
	waiting := runtime.NumGoroutine() - before
	close(release)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// The one in syncfs and one queued.
	if waiting > 2 || syncs.Load() > 3 {
		t.Errorf("%d checkpoint goroutines behind one slow checkpoint (%d syncfs in all); want at most one queued", waiting, syncs.Load())
	}
}

// A checkpoint that fails on a full disk puts the log back in service: the
// writes go on into the room it grew ahead, where a new log would need
// room of its own.
func TestFailedCheckpointKeepsTheLogInService(t *testing.T) {
	defer func(n int64, d time.Duration) { walCheckpointSize, walIdleCheckpoint = n, d }(walCheckpointSize, walIdleCheckpoint)
	walCheckpointSize, walIdleCheckpoint = 1<<40, time.Hour
	root := smallFS(t, 4<<20)
	walChunk = 1 << 20 // the default: room for thousands of frames ahead
	dir := filepath.Join(root, "state")
	s := mustOpen(t, dir)
	for i := range 20 {
		if err := s.Put(Record{Policy: "p", Name: fmt.Sprintf("n%02d", i), CurrentKeyID: "EXO0"}); err != nil {
			t.Fatal(err)
		}
	}
	fill(t, root, 0)
	if err := s.checkpoint(); err == nil {
		t.Fatal("a checkpoint succeeded on a full disk: the test proves nothing")
	}
	for i := range 100 {
		if err := s.Put(Record{Policy: "p", Name: fmt.Sprintf("n%02d", i%20), CurrentKeyID: fmt.Sprint("EXO", i+1)}); err != nil {
			t.Fatalf("Put %d after the failed checkpoint: %v", i, err)
		}
	}
	crash(t, s)
	os.Remove(filepath.Join(root, "filler"))
	s = mustOpen(t, dir)
	defer s.Close()
	for i := 80; i < 100; i++ {
		name := fmt.Sprintf("n%02d", i%20)
		if r, _ := s.Get("p", name); r.CurrentKeyID != fmt.Sprint("EXO", i+1) {
			t.Errorf("%s: %q after the crash, want EXO%d", name, r.CurrentKeyID, i+1)
		}
	}
}

// A record too large for one frame of the log is refused: replay would
// take such a frame for a torn tail and drop it, and every write after it.
func TestPutRefusesARecordLargerThanAFrame(t *testing.T) {
	if testing.Short() {
		t.Skip("encodes 17 MB")
	}
	dir := t.TempDir()
	s := mustOpen(t, dir)
	err := s.Put(bigRecord("big", 1, 95000))
	if err == nil || !strings.Contains(err.Error(), "p/big") {
		t.Fatalf("Put of a record larger than a frame: %v, want an error naming it", err)
	}
	if err := s.Put(Record{Policy: "p", Name: "after", CurrentKeyID: "EXOafter"}); err != nil {
		t.Fatal(err)
	}
	crash(t, s)
	s = mustOpen(t, dir)
	defer s.Close()
	if r, ok := s.Get("p", "after"); !ok || r.CurrentKeyID != "EXOafter" {
		t.Errorf("the Put after the refused one: %q, %v after the crash", r.CurrentKeyID, ok)
	}
	if s.Has("p", "big") {
		t.Error("the refused record is in the store")
	}
}

// The file of a record is indented, larger than its frame: a record that
// fits a frame but whose file passes the frame's size still opens.
func TestARecordWhoseFileIsLargerThanAFrameOpens(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 17 MB")
	}
	dir := t.TempDir()
	s := mustOpen(t, dir)
	r := bigRecord("big", 1, 76000)
	frame, _ := json.Marshal(walEntry{Put: &r})
	file, _ := json.MarshalIndent(r, "", "  ")
	if len(frame) > maxFrameSize || len(file) <= maxFrameSize {
		t.Fatalf("frame %d and file %d bytes do not straddle %d", len(frame), len(file), maxFrameSize)
	}
	if err := s.Put(r); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir)
	if err != nil {
		t.Fatalf("the store wrote this record and cannot open it: %v", err)
	}
	defer s.Close()
	if got, _ := s.Get("p", "big"); len(got.Rotation.Sinks) != 76000 {
		t.Errorf("%d sinks, want 76000", len(got.Rotation.Sinks))
	}
}

// The log a failed checkpoint by size puts back is past the size already:
// the writes that follow do not each start another attempt, during which a
// write would need a new log that the full disk refuses.
func TestLogPutBackPastTheSizeTakesTheWritesThatFollow(t *testing.T) {
	defer func(n int64, d time.Duration) { walCheckpointSize, walIdleCheckpoint = n, d }(walCheckpointSize, walIdleCheckpoint)
	walCheckpointSize, walIdleCheckpoint = 1<<40, time.Hour
	root := smallFS(t, 4<<20)
	walChunk = 1 << 20
	dir := filepath.Join(root, "state")
	s := mustOpen(t, dir)
	put := func(i int) error {
		return s.Put(Record{Policy: "p", Name: fmt.Sprintf("n%03d", i%200), CurrentKeyID: fmt.Sprint("EXO", i)})
	}
	for i := range 200 {
		if err := put(i); err != nil {
			t.Fatal(err)
		}
	}
	fill(t, root, 0)
	// The log is at the size: the next write starts a checkpoint, which
	// fails on the full disk.
	walCheckpointSize = s.log.Size()
	if err := put(200); err != nil {
		t.Fatal(err)
	}
	s.background.Wait()
	if !s.Has("p", "n000") || s.log == nil {
		t.Fatal("the failed checkpoint did not put the log back")
	}
	// Less log than the size again: no attempt, every write goes on.
	for i := 201; i < 301; i++ {
		if err := put(i); err != nil {
			t.Fatalf("Put %d after the failed checkpoint: %v", i, err)
		}
	}
	s.background.Wait()
	crash(t, s)
	os.Remove(filepath.Join(root, "filler"))
	s = mustOpen(t, dir)
	defer s.Close()
	for i := 201; i < 301; i++ {
		if r, _ := s.Get("p", fmt.Sprintf("n%03d", i%200)); r.CurrentKeyID != fmt.Sprint("EXO", i) {
			t.Errorf("n%03d: %q after the crash, want EXO%d", i%200, r.CurrentKeyID, i)
		}
	}
}
