package state

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Review 17b: the write that waits for a checkpoint's log put back
// (5808bb1). Outcomes only; the deadlines below only turn a hang into a
// failure.

const waitDeadline = 2 * time.Minute

// checkpointEndProcs: GOMAXPROCS while a checkpoint ends (REVIEW17B_PROCS=1
// for one).
var checkpointEndProcs = 2

// waitLogOut waits until a checkpoint has the log out of service.
func waitLogOut(t *testing.T, s *Store) {
	t.Helper()
	deadline := time.Now().Add(waitDeadline)
	for {
		s.writeMu.RLock()
		out := s.log == nil
		s.writeMu.RUnlock()
		if out {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the checkpoint never took the log out of service")
		}
		time.Sleep(time.Millisecond)
	}
}

// waitParked waits until n goroutines are parked in write on the
// checkpoint's channel.
func waitParked(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(waitDeadline)
	for {
		if isParked(n) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("writers parked on the checkpoint: fewer than %d", n)
		}
		time.Sleep(time.Millisecond)
	}
}

func isParked(n int) bool {
	buf := make([]byte, 4<<20)
	k := runtime.Stack(buf, true)
	c := 0
	for _, g := range strings.Split(string(buf[:k]), "\n\n") {
		if strings.Contains(g, "[chan receive") && strings.Contains(g, "state.(*Store).write(") {
			c++
		}
	}
	return c >= n
}

func recvWithin(t *testing.T, c <-chan error, what string) error {
	t.Helper()
	select {
	case err := <-c:
		return err
	case <-time.After(waitDeadline):
		buf := make([]byte, 1<<20)
		t.Fatalf("%s hangs:\n%s", what, buf[:runtime.Stack(buf, true)])
		return nil
	}
}

// heldDisk: new logs refused (ENOSPC from syncDir); the checkpoint
// attempts numbered in hold block in syncFS until their channel is closed,
// then fail with ENOSPC.
func heldDisk(s *Store, hold map[int64]chan struct{}) *atomic.Int64 {
	var attempts atomic.Int64
	s.syncDir = func(string) error { return syscall.ENOSPC }
	s.syncFS = func(*os.File) error {
		if c := hold[attempts.Add(1)]; c != nil {
			<-c
		}
		return syscall.ENOSPC
	}
	return &attempts
}

func checkRecords(t *testing.T, dir string, want map[string]string) {
	t.Helper()
	s := mustOpen(t, dir)
	defer s.Close()
	for name, v := range want {
		if r, _ := s.Get("p", name); r.CurrentKeyID != v {
			t.Errorf("%s: %q after the crash, want %s", name, r.CurrentKeyID, v)
		}
	}
}

// A forced checkpoint queued while the failing one runs (the idle timer
// firing during a slow syncfs on the full disk: walIdleCheckpoint after the
// last write, while a checkpoint by size is in syncfs) runs as soon as the
// first ends and takes the put-back log out of service again. The write
// woken by the first has used its one wait and fails with the ENOSPC of a
// new log: the failure the change removes, one checkpoint later.
func TestBackToBackCheckpointsFailTheWaitingWrite(t *testing.T) {
	s, put := storeWithALog(t)
	dir := s.Dir()
	relA, relB := make(chan struct{}), make(chan struct{})
	attempts := heldDisk(s, map[int64]chan struct{}{1: relA, 2: relB})
	s.checkpointInBackground(true) // A
	waitLogOut(t, s)
	const n = 8
	errc := make(chan error, n)
	for i := range n {
		go func() { errc <- put(5000 + i) }()
	}
	waitParked(t, n)
	s.checkpointInBackground(true) // B, queued behind A: the idle timer
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(checkpointEndProcs))
	close(relA)
	// Wait for B in syncfs (the log out again) or for every write.
	var errs []error
	for attempts.Load() < 2 && len(errs) < n {
		select {
		case err := <-errc:
			errs = append(errs, err)
		case <-time.After(time.Millisecond):
		}
	}
	close(relB)
	for len(errs) < n {
		errs = append(errs, recvWithin(t, errc, "a write"))
	}
	s.background.Wait()
	failed := 0
	for _, err := range errs {
		if err != nil {
			if failed == 0 {
				t.Errorf("a write during a failing checkpoint followed by another: %v", err)
			}
			failed++
		}
	}
	t.Logf("checkpoint attempts %d; writes failed %d of %d", attempts.Load(), failed, n)
	crash(t, s)
	if failed == 0 {
		checkRecords(t, dir, map[string]string{"n000": "EXO5000", "n007": "EXO5007"})
	}
}

// Close while a writer waits on a background checkpoint, and Close whose
// own checkpoint the writer waits on: nothing hangs, and a write that
// returned nil is there after the reopen.
func TestCloseRacesAWaitingWriter(t *testing.T) {
	for _, ownCheckpoint := range []bool{false, true} {
		for _, procs := range []int{1, 2} {
			for i := range 5 {
				t.Run(fmt.Sprintf("own=%v/procs=%d/%d", ownCheckpoint, procs, i), func(t *testing.T) {
					s, put := storeWithALog(t)
					dir := s.Dir()
					rel := make(chan struct{})
					heldDisk(s, map[int64]chan struct{}{1: rel})
					closec := make(chan error, 1)
					if ownCheckpoint {
						go func() { closec <- s.Close() }()
					} else {
						s.checkpointInBackground(true)
					}
					waitLogOut(t, s)
					errc := make(chan error, 1)
					go func() { errc <- put(5000) }()
					waitParked(t, 1)
					if !ownCheckpoint {
						go func() { closec <- s.Close() }()
					}
					defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
					close(rel)
					werr := recvWithin(t, errc, "the write")
					cerr := recvWithin(t, closec, "Close")
					runtime.GOMAXPROCS(2)
					t.Logf("write: %v; Close: %v", werr, cerr)
					if werr != nil && !errors.Is(werr, ErrClosed) && !errors.Is(werr, syscall.ENOSPC) {
						t.Errorf("write: %v", werr)
					}
					if s.ckptRunning != nil {
						t.Error("ckptRunning left set")
					}
					if werr == nil {
						checkRecords(t, dir, map[string]string{"n000": "EXO5000"})
					}
				})
			}
		}
	}
}

// The write waits, the checkpoint succeeds (its logs removed), the write
// starts a new log: that log is not covered, and the write survives a
// crash, and the next checkpoint.
func TestWaitThenANewLogAfterASuccessfulCheckpoint(t *testing.T) {
	for _, second := range []bool{false, true} {
		t.Run(fmt.Sprintf("second=%v", second), func(t *testing.T) {
			s, put := storeWithALog(t)
			dir := s.Dir()
			var refuse atomic.Bool
			refuse.Store(true)
			rel := make(chan struct{})
			s.syncDir = func(d string) error {
				if refuse.Load() {
					return syscall.ENOSPC
				}
				return syncDir(d)
			}
			s.syncFS = func(d *os.File) error { <-rel; return syncFS(d) }
			s.checkpointInBackground(true)
			waitLogOut(t, s)
			errc := make(chan error, 1)
			go func() { errc <- put(5000) }()
			waitParked(t, 1)
			refuse.Store(false)
			close(rel)
			if err := recvWithin(t, errc, "the write"); err != nil {
				t.Fatalf("write after a successful checkpoint: %v", err)
			}
			s.background.Wait()
			logs := logFiles(t, dir)
			s.writeMu.RLock()
			cur := s.log
			s.writeMu.RUnlock()
			if cur == nil || len(logs) != 1 || logs[0].seq != cur.seq {
				t.Fatalf("logs %v, active %v: want only the new one", logs, cur)
			}
			if second {
				if err := s.checkpoint(); err != nil {
					t.Fatal(err)
				}
			}
			crash(t, s)
			checkRecords(t, dir, map[string]string{"n000": "EXO5000", "n099": "EXO1999"})
		})
	}
}

// The write waits, lands in the log put back, a later checkpoint
// succeeds and removes that log: the write is in its snapshot.
func TestPutBackLogCoveredByTheNextCheckpoint(t *testing.T) {
	s, put := storeWithALog(t)
	dir := s.Dir()
	rel := make(chan struct{})
	heldDisk(s, map[int64]chan struct{}{1: rel})
	s.checkpointInBackground(true)
	waitLogOut(t, s)
	errc := make(chan error, 1)
	go func() { errc <- put(5000) }()
	waitParked(t, 1)
	close(rel)
	if err := recvWithin(t, errc, "the write"); err != nil {
		t.Fatal(err)
	}
	s.background.Wait()
	s.syncDir, s.syncFS = syncDir, syncFS
	if err := s.checkpoint(); err != nil {
		t.Fatal(err)
	}
	if logs := logFiles(t, dir); len(logs) != 0 {
		t.Fatalf("logs left: %v", logs)
	}
	crash(t, s)
	checkRecords(t, dir, map[string]string{"n000": "EXO5000"})
}

// A checkpoint on a closed store returns before it publishes a channel;
// writes on it fail at once.
func TestCheckpointOnClosedStore(t *testing.T) {
	s := mustOpen(t, t.TempDir())
	if err := s.Put(Record{Policy: "p", Name: "a", CurrentKeyID: "EXO1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.checkpoint(); !errors.Is(err, ErrClosed) {
		t.Fatalf("checkpoint on a closed store: %v", err)
	}
	if s.ckptRunning != nil {
		t.Fatal("ckptRunning set by a checkpoint that returned early")
	}
	if err := s.Put(Record{Policy: "p", Name: "a", CurrentKeyID: "EXO2"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Put on a closed store: %v", err)
	}
}

// A broken log: the checkpoint that takes it out fails and does not put
// it back. Writers waiting on it retry once and fail; none hangs, and
// once the disk is back everything acknowledged is there.
func TestBrokenLogWaitersFailOnce(t *testing.T) {
	s, put := storeWithALog(t)
	dir := s.Dir()
	rel := make(chan struct{})
	attempts := heldDisk(s, map[int64]chan struct{}{1: rel})
	s.log.mu.Lock()
	s.log.broken = errors.New("cannot undo a failed write")
	s.log.mu.Unlock()
	if err := put(5000); err == nil {
		t.Fatal("Put on a broken log succeeded")
	}
	waitLogOut(t, s)
	const n = 4
	errc := make(chan error, n)
	for i := range n {
		go func() { errc <- put(6000 + i) }()
	}
	waitParked(t, n)
	close(rel)
	for range n {
		if err := recvWithin(t, errc, "a writer"); err == nil {
			t.Error("a write succeeded with no log to go to")
		}
	}
	s.background.Wait()
	if attempts.Load() != 1 || s.log != nil {
		t.Fatalf("attempts %d, log %v", attempts.Load(), s.log)
	}
	s.syncDir, s.syncFS = syncDir, syncFS
	if err := put(7000); err != nil {
		t.Fatal(err)
	}
	crash(t, s)
	checkRecords(t, dir, map[string]string{"n000": "EXO7000", "n099": "EXO1999"})
}

// A checkpoint stuck in syncfs: the waiting write returns only once it
// ends (before 5808bb1 it failed at once with the new log's error).
func TestStuckCheckpointHoldsTheWrite(t *testing.T) {
	s, put := storeWithALog(t)
	rel := make(chan struct{})
	heldDisk(s, map[int64]chan struct{}{1: rel})
	s.checkpointInBackground(true)
	waitLogOut(t, s)
	errc := make(chan error, 1)
	go func() { errc <- put(5000) }()
	waitParked(t, 1)
	var released atomic.Bool
	select {
	case err := <-errc:
		t.Fatalf("the write returned (%v) while the checkpoint is stuck", err)
	default:
	}
	released.Store(true)
	close(rel)
	if err := recvWithin(t, errc, "the write"); err != nil {
		t.Fatal(err)
	}
	if !released.Load() {
		t.Fatal("unreachable")
	}
	s.background.Wait()
}

// A real ENOSPC: the disk full, a new log cannot be created, the
// checkpoint fails (injected at syncfs: tmpfs's never does). A write that
// returns nil survives a crash once the space is back.
func TestRealFullDisk(t *testing.T) {
	defer func(d time.Duration) { walIdleCheckpoint = d }(walIdleCheckpoint)
	walIdleCheckpoint = time.Hour
	root := smallFS(t, 1<<20)
	dir := filepath.Join(root, "state")
	s := mustOpen(t, dir)
	for i := range 20 {
		if err := s.Put(Record{Policy: "p", Name: fmt.Sprintf("n%02d", i), CurrentKeyID: "EXO0"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.checkpoint(); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := s.Put(Record{Policy: "p", Name: fmt.Sprintf("n%02d", 20+i), CurrentKeyID: "EXO1"}); err != nil {
			t.Fatal(err)
		}
	}
	filler := fill(t, root, 3*4096) // room for the 3 new record files, none for a log
	rel, entered := make(chan struct{}), make(chan struct{})
	var enter sync.Once
	s.syncFS = func(*os.File) error {
		enter.Do(func() { close(entered) })
		<-rel
		return syscall.ENOSPC
	}
	s.checkpointInBackground(true)
	// In syncfs: the record files written, the disk's room taken. (The log
	// goes out of service before they are written: a write then could
	// still find room for a new log.)
	select {
	case <-entered:
	case <-time.After(waitDeadline):
		t.Fatal("the checkpoint never reached syncfs")
	}
	waitLogOut(t, s)
	errc := make(chan error, 1)
	go func() { errc <- s.Put(Record{Policy: "p", Name: "n05", CurrentKeyID: "EXO2"}) }()
	var werr error
	done := false
	for !done && !isParked(1) {
		select {
		case werr = <-errc:
			done = true
		case <-time.After(time.Millisecond):
		}
	}
	if done {
		var st syscall.Statfs_t
		syscall.Statfs(root, &st)
		t.Fatalf("setup: the write returned (%v) without waiting; logs %v; free %d", werr, logFiles(t, dir), st.Bavail*uint64(st.Bsize))
	}
	close(rel)
	werr = recvWithin(t, errc, "the write")
	s.background.Wait()
	t.Logf("write on the full disk: %v", werr)
	crash(t, s)
	os.Remove(filler)
	want := map[string]string{"n20": "EXO1", "n22": "EXO1", "n05": "EXO0"}
	if werr == nil {
		want["n05"] = "EXO2"
	}
	checkRecords(t, dir, want)
}

func init() {
	if os.Getenv("REVIEW17B_PROCS") == "1" {
		checkpointEndProcs = 1
	}
}
