package state

import (
	"errors"
	"os"
	"sync/atomic"
	"testing"
	"time"
)

// countSyncs makes s's log count its data syncs.
func countSyncs(t *testing.T, s *Store) *atomic.Int64 {
	t.Helper()
	var n atomic.Int64
	s.writeMu.RLock()
	defer s.writeMu.RUnlock()
	if s.log == nil {
		t.Fatal("setup: no log in service")
	}
	s.log.mu.Lock()
	s.log.sync = func(f *os.File) error {
		n.Add(1)
		return fdatasync(f)
	}
	s.log.mu.Unlock()
	return &n
}

// The step PutQueued is for (an old key's deletion recorded) must not wait
// for a sync of its own, yet be in memory at once and durable with the
// next Put's batch: a crash after that Put finds both.
func TestPutQueuedRidesWithTheNextPut(t *testing.T) {
	defer func(d time.Duration) { walIdleCheckpoint = d }(walIdleCheckpoint)
	walIdleCheckpoint = time.Hour // no checkpoint makes it durable meanwhile
	dir := t.TempDir()
	s := mustOpen(t, dir)
	if err := s.Put(Record{Policy: "p", Name: "a", CurrentKeyID: "EXOa1"}); err != nil {
		t.Fatal(err)
	}
	syncs := countSyncs(t, s)
	if err := s.PutQueued(Record{Policy: "p", Name: "a", CurrentKeyID: "EXOa2"}); err != nil {
		t.Fatal(err)
	}
	if got := syncs.Load(); got != 0 {
		t.Fatalf("PutQueued synced the log %d times; it should not wait for the disk", got)
	}
	if r, _ := s.Get("p", "a"); r.CurrentKeyID != "EXOa2" {
		t.Fatalf("in memory after PutQueued: %q, want EXOa2", r.CurrentKeyID)
	}
	if err := s.Put(Record{Policy: "p", Name: "b", CurrentKeyID: "EXOb1"}); err != nil {
		t.Fatal(err)
	}
	if got := syncs.Load(); got != 1 {
		t.Fatalf("the Put after it synced %d times, want 1 for both", got)
	}
	// A SIGKILL now: the directory as it is, the store never closed.
	crashed := writeTree(t, readTree(t, dir))
	c := mustOpen(t, crashed)
	defer c.Close()
	if r, _ := c.Get("p", "a"); r.CurrentKeyID != "EXOa2" {
		t.Fatalf("after a crash following the next Put: a is %q, want EXOa2 (the queued change)", r.CurrentKeyID)
	}
	if r, _ := c.Get("p", "b"); r.CurrentKeyID != "EXOb1" {
		t.Fatalf("after a crash: b is %q, want EXOb1", r.CurrentKeyID)
	}
	s.Close()
}

// Close makes a queued change durable even when its checkpoint fails: the
// log keeps it for the next Open.
func TestCloseFlushesQueuedChanges(t *testing.T) {
	defer func(d time.Duration) { walIdleCheckpoint = d }(walIdleCheckpoint)
	walIdleCheckpoint = time.Hour
	dir := t.TempDir()
	s := mustOpen(t, dir)
	if err := s.Put(Record{Policy: "p", Name: "a", CurrentKeyID: "EXOa1"}); err != nil {
		t.Fatal(err)
	}
	syncs := countSyncs(t, s)
	if err := s.PutQueued(Record{Policy: "p", Name: "a", CurrentKeyID: "EXOa2"}); err != nil {
		t.Fatal(err)
	}
	// The checkpoint cannot make the record files durable.
	s.syncFS = func(*os.File) error { return errors.New("EIO") }
	if err := s.Close(); err == nil {
		t.Fatal("setup: the checkpoint at Close did not fail")
	}
	if syncs.Load() != 1 {
		t.Fatalf("Close synced the log %d times before its checkpoint, want 1", syncs.Load())
	}
	// Torn record files, as a power loss may leave unsynced ones.
	for _, f := range recordFiles(t, dir) {
		os.WriteFile(f, []byte("{"), 0o600)
	}
	c := mustOpen(t, dir)
	defer c.Close()
	if r, _ := c.Get("p", "a"); r.CurrentKeyID != "EXOa2" {
		t.Fatalf("after a Close whose checkpoint failed: a is %q, want EXOa2 from the log", r.CurrentKeyID)
	}
}

// With nothing queued, Close adds no sync of the log.
func TestCloseWithNothingQueuedAddsNoSync(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	if err := s.Put(Record{Policy: "p", Name: "a", CurrentKeyID: "EXOa1"}); err != nil {
		t.Fatal(err)
	}
	syncs := countSyncs(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if syncs.Load() != 0 {
		t.Fatalf("Close synced the log %d times with nothing queued", syncs.Load())
	}
}
