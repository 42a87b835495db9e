package state

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Review 16d: tests written to break the write-ahead log (a14c114).

// putFrame is the log frame of a Put of a record whose key id is pad bytes
// of the name's first letter.
func putFrame(t *testing.T, name string, pad int) []byte {
	t.Helper()
	r := Record{Policy: "p", Name: name, CurrentKeyID: strings.Repeat(name[:1], pad)}
	b, err := json.Marshal(walEntry{Put: &r})
	if err != nil {
		t.Fatal(err)
	}
	return appendFrame(nil, b)
}

// TestHugeBatchAliasesSpareBuffer: after a batch over 1 MiB,
// flushLocked keeps w.spare pointing at the buffer w.pending now uses
// (it only refreshes spare for batches of 1 MiB or less). From the next
// batch on, the buffer being written and the buffer the next callers
// append to are the same array: a frame appended while a batch is being
// written overwrites that batch's bytes. The caller of the overwritten
// batch is told its step is durable; what reached the log is another
// caller's bytes (a CRC failure, which replay takes for a torn tail and
// drops with everything after it).
//
// (The log now writes batches in place with pwrite, which a pipe does not
// take: the overlap itself is shown by the store-level tests below.)
func TestHugeBatchAliasesSpareBuffer(t *testing.T) {
	dir := t.TempDir()
	w, err := createWAL(dir, 1, syncDir, fdatasync)
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	// A normal batch: its buffer becomes the spare.
	if err := w.append(putFrame(t, "a", 200<<10)); err != nil {
		t.Fatal(err)
	}
	// A batch over 1 MiB (one big frame here; 64 Puts of 20 KB records
	// queued behind one slow fdatasync do the same).
	if err := w.append(putFrame(t, "b", 1200<<10)); err != nil {
		t.Fatal(err)
	}
	w.mu.Lock()
	aliased := cap(w.spare) > 0 && cap(w.pending) > 0 && &w.spare[:1][0] == &w.pending[:1][0]
	w.mu.Unlock()
	if aliased {
		t.Errorf("after a batch over 1 MiB, w.spare and w.pending share one array")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(time.Millisecond)
	}
}

// bigRecord is a record of about size bytes of JSON (a record with many
// sinks).
func bigRecord(name string, v, sinks int) Record {
	rot := &Rotation{Phase: PhaseCreated, NewKeyID: fmt.Sprintf("EXO%s-%d", name, v), Sinks: map[string]SinkMark{}}
	for i := range sinks {
		rot.Sinks[fmt.Sprintf("sink-%03d", i)] = SinkMark{Before: strings.Repeat("b", 64), New: strings.Repeat("n", 64), Delivered: true}
	}
	return Record{Policy: "p", Name: name, CurrentKeyID: fmt.Sprintf("EXO%s-%d", name, v), Rotation: rot}
}

// TestGroupCommitLosesAckedPutsAfterHugeBatch: the same defect
// through the Store and a real log file. A batch over 1 MiB (here one
// large record; see the next test for ordinary records) leaves the spare
// aliased; the concurrent Puts that follow append into the array being
// written. After each round the log is read back (as the next Open would)
// and compared with what was acknowledged.
func TestGroupCommitLosesAckedPutsAfterHugeBatch(t *testing.T) {
	if testing.Short() {
		t.Skip("long: runs without -short")
	}
	if raceEnabled {
		t.Skip("under -race the detector reports the overlap itself (see TestHugeBatchAliasesSpareBuffer)")
	}
	defer func(n int64) { walCheckpointSize = n }(walCheckpointSize)
	walCheckpointSize = 1 << 40 // checkpoints only when the test says
	dir := t.TempDir()
	s := mustOpen(t, dir)
	defer crash(t, s)
	const writers, puts = 16, 8
	acked := make([]int, writers)
	for v := range 300 {
		// A normal batch, then one over 1 MiB.
		if err := s.Put(bigRecord("small", v, 350)); err != nil { // ~64 KB: room for several frames
			t.Fatal(err)
		}
		if err := s.Put(bigRecord("big", v, 6000)); err != nil { // ~1.2 MB
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for i := range writers {
			wg.Go(func() {
				for k := range puts {
					if err := s.Put(bigRecord(fmt.Sprintf("n%d", i), v*puts+k, 20)); err != nil {
						t.Error(err)
						return
					}
					acked[i] = v*puts + k
				}
			})
		}
		wg.Wait()
		ro, err := OpenReadOnly(dir)
		if err != nil {
			t.Fatal(err)
		}
		for i := range writers {
			name := fmt.Sprintf("n%d", i)
			r, ok := ro.Get("p", name)
			if want := fmt.Sprintf("EXO%s-%d", name, acked[i]); !ok || r.CurrentKeyID != want {
				t.Errorf("round %d: %s in the log: %q (found %v), want the acknowledged %q", v, name, r.CurrentKeyID, ok, want)
			}
		}
		if r, _ := ro.Get("p", "big"); r.CurrentKeyID != fmt.Sprintf("EXObig-%d", v) {
			t.Errorf("round %d: big in the log: %q, want EXObig-%d", v, r.CurrentKeyID, v)
		}
		if t.Failed() {
			return
		}
		// The next round starts a new log: each round's log is checked
		// alone (a checkpoint writes the in-memory view, which is right).
		if err := s.checkpoint(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFIFONamedLikeALogHangsOpen: a FIFO named like a log makes
// Open and OpenReadOnly (rotatord plan) block forever in open(2), instead
// of failing like a symlink or a directory of that name does.
func TestFIFONamedLikeALogHangsOpen(t *testing.T) {
	for _, ro := range []bool{false, true} {
		t.Run(fmt.Sprintf("readonly=%v", ro), func(t *testing.T) {
			dir := t.TempDir()
			s := mustOpen(t, dir)
			if err := s.Put(Record{Policy: "p", Name: "n", CurrentKeyID: "EXO1"}); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			fifo := filepath.Join(dir, walName(9))
			if err := syscall.Mkfifo(fifo, 0o600); err != nil {
				t.Skip(err)
			}
			done := make(chan error, 1)
			go func() {
				var err error
				if ro {
					_, err = OpenReadOnly(dir)
				} else {
					var s *Store
					if s, err = Open(dir); err == nil {
						s.Close()
					}
				}
				done <- err
			}()
			select {
			case err := <-done:
				if err == nil {
					t.Errorf("opened with a FIFO named like a log")
				}
			case <-time.After(3 * time.Second):
				t.Errorf("Open blocked for 3 s on a FIFO named %s", filepath.Base(fifo))
				// Unblock it: a writer opens the other end.
				if f, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
					f.Close()
				}
				<-done
			}
		})
	}
}

// TestZeroFilledLogHeader: replayWAL takes a short header for a
// log whose header was not yet durable at the crash, and a frame of zeros
// for a torn tail (TestTornLogTailIgnored "zeros": a file system may show a
// crashed, unsynced extension as zeros). The same crash inside createWAL,
// after the write of the header and before its fsync, can leave the header
// as zeros; Open then fails ("bad header") and rotatord cannot start,
// although no entry can follow an unsynced header.
func TestZeroFilledLogHeader(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	if err := s.Put(Record{Policy: "p", Name: "n", CurrentKeyID: "EXO1"}); err != nil {
		t.Fatal(err)
	}
	seq := s.log.seq
	crash(t, s)
	// The crash came in the next checkpoint's createWAL, header unsynced.
	if err := os.WriteFile(filepath.Join(dir, walName(seq+1)), make([]byte, len(walMagic)), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir)
	if err != nil {
		t.Fatalf("Open after a crash in createWAL: %v", err)
	}
	defer s.Close()
	if r, _ := s.Get("p", "n"); r.CurrentKeyID != "EXO1" {
		t.Errorf("CurrentKeyID %q, want EXO1", r.CurrentKeyID)
	}
}

// TestReadOnlyRacesCheckpointedDelete: OpenReadOnly replays the
// logs, lists the record files, then reads them one by one. A record
// deleted after its replay and checkpointed (its file removed) before its
// file is read makes the read fail with ENOENT, and `rotatord plan` fails
// ("never fail to load"). Reads of the log-free files are the ones at
// risk, so the daemon here deletes a few records right after a
// checkpoint, checkpoints again, and puts them back.
func TestReadOnlyRacesCheckpointedDelete(t *testing.T) {
	if testing.Short() {
		t.Skip("long: runs without -short")
	}
	dir := t.TempDir()
	s := mustOpen(t, dir)
	const n = 2000
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if err := s.Put(Record{Policy: "p", Name: fmt.Sprintf("n%04d", i), CurrentKeyID: "EXO"}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if err := s.checkpoint(); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var daemon sync.WaitGroup
	daemon.Go(func() {
		for v := 0; ; v++ {
			select {
			case <-stop:
				return
			default:
			}
			for _, del := range []bool{true, false} {
				var wg sync.WaitGroup
				for i := v % 50; i < n; i += 50 {
					wg.Go(func() {
						name := fmt.Sprintf("n%04d", i)
						var err error
						if del {
							err = s.Delete("p", name)
						} else {
							err = s.Put(Record{Policy: "p", Name: name, CurrentKeyID: fmt.Sprint("EXO", v)})
						}
						if err != nil {
							t.Error(err)
						}
					})
				}
				wg.Wait()
				if err := s.checkpoint(); err != nil {
					t.Error(err)
					return
				}
			}
		}
	})
	var failure error
	deadline := time.Now().Add(10 * time.Second)
	loads := 0
	for time.Now().Before(deadline) && failure == nil {
		loads++
		_, failure = OpenReadOnly(dir)
	}
	close(stop)
	daemon.Wait()
	s.Close()
	if failure != nil {
		t.Errorf("OpenReadOnly failed while the daemon checkpointed (load %d): %v", loads, failure)
	}
}

// TestConcurrentClosePanics: two Close calls at once (a shutdown
// racing a reload's close of an account) both see the log open; the
// second to take writeMu calls s.log.Size() on the nil log and panics.
func TestConcurrentClosePanics(t *testing.T) {
	s := mustOpen(t, t.TempDir())
	if err := s.Put(Record{Policy: "p", Name: "n"}); err != nil {
		t.Fatal(err)
	}
	s.ckptMu.Lock() // both Close calls get past their check of s.log
	var wg sync.WaitGroup
	var panics atomic.Int32
	for range 2 {
		wg.Go(func() {
			defer func() {
				if r := recover(); r != nil {
					panics.Add(1)
					t.Logf("Close panicked: %v", r)
				}
			}()
			s.Close()
		})
	}
	time.Sleep(200 * time.Millisecond)
	s.ckptMu.Unlock()
	wg.Wait()
	if panics.Load() > 0 {
		t.Errorf("concurrent Close panicked")
	}
}

// TestHugeSequenceWraps: a log named with sequence 2^64-1 (an
// empty one, header only) is accepted; Open's new log is seq+1, which wraps
// to journal.0, sorted before it (so any entry the high log held would be
// replayed over every newer change, and it is never removed: no log is
// "before" 0). After the next crash Open finds journal.0 and the high log,
// computes seq+1 = 0 again, and fails with EEXIST: rotatord cannot start.
func TestHugeSequenceWraps(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	s.Close()
	high := filepath.Join(dir, walName(^uint64(0)))
	if err := os.WriteFile(high, []byte(walMagic), 0o600); err != nil {
		t.Fatal(err)
	}
	// A sequence number no rotatord reaches is refused, named, before it
	// can wrap.
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), high) {
		t.Fatalf("Open = %v, want an error naming %s", err, high)
	}
}

// TestGroupCommitLosesAckedPutsDiskStalls: the same with only
// ordinary records: 64 writers (the largest exoscale.concurrency) of
// records with 100 sinks (~19 KB), and a disk whose fdatasync stalls for
// 50 ms now and then, so that the writers queue one batch over 1 MiB.
// Every 10 rounds the log is read back (as the next Open would) and
// compared with what was acknowledged.
func TestGroupCommitLosesAckedPutsDiskStalls(t *testing.T) {
	if testing.Short() {
		t.Skip("long: runs without -short")
	}
	if raceEnabled {
		t.Skip("under -race the detector reports the overlap itself (see TestHugeBatchAliasesSpareBuffer)")
	}
	defer func(n int64) { walCheckpointSize = n }(walCheckpointSize)
	walCheckpointSize = 1 << 40
	dir := t.TempDir()
	s := mustOpen(t, dir)
	defer crash(t, s)
	var syncs atomic.Int64
	stalls := func(f *os.File) error {
		if syncs.Add(1)%25 == 0 {
			time.Sleep(50 * time.Millisecond)
		}
		return fdatasync(f)
	}
	s.logSync = stalls
	const writers = 64
	acked := make([]int, writers)
	for round := 0; round < 400; round += 10 {
		var wg sync.WaitGroup
		for i := range writers {
			wg.Go(func() {
				for v := round; v < round+10; v++ {
					if err := s.Put(bigRecord(fmt.Sprintf("n%02d", i), v, 100)); err != nil {
						t.Error(err)
						return
					}
					acked[i] = v
				}
			})
		}
		wg.Wait()
		ro, err := OpenReadOnly(dir)
		if err != nil {
			t.Fatal(err)
		}
		lost := 0
		for i := range writers {
			name := fmt.Sprintf("n%02d", i)
			if r, ok := ro.Get("p", name); !ok || r.CurrentKeyID != fmt.Sprintf("EXO%s-%d", name, acked[i]) {
				lost++
			}
		}
		if lost > 0 {
			t.Fatalf("after %d rounds: %d of %d records lost their last acknowledged Put in the log (%d syncs)", round+10, lost, writers, syncs.Load())
		}
		if err := s.checkpoint(); err != nil { // each chunk's log checked alone
			t.Fatal(err)
		}
		s.logSync = stalls
	}
}
