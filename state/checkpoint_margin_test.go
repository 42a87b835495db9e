package state

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// failingDisk makes new logs refused (syncDir fails, like createWAL on a
// full disk) and checkpoints fail after a short while (syncFS).
func failingDisk(s *Store, attempts *atomic.Int64, delay time.Duration) {
	s.syncDir = func(string) error { return syscall.ENOSPC }
	s.syncFS = func(*os.File) error {
		attempts.Add(1)
		time.Sleep(delay)
		return syscall.ENOSPC
	}
}

// storeWithALog opens a store whose log holds 2,000 writes over 100 names
// (about 200 KB), with no checkpoint by size or idle until the test sets
// one, and returns it with its put.
func storeWithALog(t *testing.T) (*Store, func(i int) error) {
	t.Helper()
	n, d := walCheckpointSize, walIdleCheckpoint
	t.Cleanup(func() { walCheckpointSize, walIdleCheckpoint = n, d })
	walCheckpointSize, walIdleCheckpoint = 1<<40, time.Hour
	s := mustOpen(t, t.TempDir())
	t.Cleanup(func() { s.Close() })
	put := func(i int) error {
		return s.Put(Record{Policy: "p", Name: fmt.Sprintf("n%03d", i%100), CurrentKeyID: fmt.Sprint("EXO", i)})
	}
	for i := range 2000 {
		if err := put(i); err != nil {
			t.Fatal(err)
		}
	}
	return s, put
}

// Concurrent writers past the size queue a second checkpoint while the
// first runs. When the first fails and puts its log back, the queued one
// looks at the size again and does not run: it would take the log out of
// service once more, and the writes meanwhile would fail for want of a new
// log on the full disk.
func TestAQueuedCheckpointLooksAtTheSizeAgain(t *testing.T) {
	s, put := storeWithALog(t) // the margin is as much log again
	var attempts atomic.Int64
	failingDisk(s, &attempts, 20*time.Millisecond)
	s.writeMu.RLock()
	walCheckpointSize = s.log.Size() + 1
	s.writeMu.RUnlock()
	var failed atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for g := range 8 {
		wg.Go(func() {
			<-start
			for j := range 40 {
				if err := put(1000 + g*100 + j); err != nil {
					failed.Add(1)
				}
			}
		})
	}
	close(start)
	wg.Wait()
	s.background.Wait()
	s.writeMu.RLock()
	size := s.log.Size()
	s.writeMu.RUnlock()
	t.Logf("attempts=%d failed Puts=%d of 320, log %d, checkpointAt %d, size %d", attempts.Load(), failed.Load(), size, s.checkpointAt.Load(), walCheckpointSize)
	if attempts.Load() > 1 {
		t.Errorf("%d checkpoint attempts for %d bytes of log past the size; the margin allows one", attempts.Load(), size-walCheckpointSize)
	}
}

// A Put whose append fails but is undone (the log still usable) starts no
// checkpoint: the log put back takes the writes that follow, instead of
// being taken out of service while they fail for want of a new log.
func TestAnUndoneAppendFailureKeepsTheLog(t *testing.T) {
	s, put := storeWithALog(t)
	var attempts atomic.Int64
	failingDisk(s, &attempts, 50*time.Millisecond)
	s.writeMu.RLock()
	walCheckpointSize = s.log.Size()
	s.writeMu.RUnlock()
	if err := put(100); err != nil {
		t.Fatal(err)
	}
	s.background.Wait() // failed, log put back with the margin
	if attempts.Load() != 1 || s.checkpointAt.Load() == 0 {
		t.Fatalf("setup: attempts %d checkpointAt %d", attempts.Load(), s.checkpointAt.Load())
	}
	var once atomic.Bool
	s.writeMu.RLock()
	s.log.mu.Lock()
	s.log.sync = func(f *os.File) error {
		if once.CompareAndSwap(false, true) {
			return errors.New("transient EIO")
		}
		return fdatasync(f)
	}
	s.log.mu.Unlock()
	s.writeMu.RUnlock()
	if err := put(101); err == nil {
		t.Fatal("the injected failure did not fail the Put")
	}
	var failed atomic.Int64
	deadline := time.Now().Add(100 * time.Millisecond)
	for i := 102; i < 402 && time.Now().Before(deadline); i++ {
		if err := put(i); err != nil {
			failed.Add(1)
		}
	}
	s.background.Wait()
	t.Logf("attempts=%d, Puts failed after one transient append failure: %d", attempts.Load(), failed.Load())
	if failed.Load() > 0 {
		t.Errorf("one undone append failure on a put-back log made %d later Puts fail", failed.Load())
	}
}
