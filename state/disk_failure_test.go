package state

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Review 16d: failures of the disk.

// smallFS mounts a tmpfs of size bytes (root only) for a real ENOSPC.
func smallFS(t *testing.T, size int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		t.Skipf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	// The log grows by small chunks here, so that it meets the full disk.
	defer func(n int64) { t.Cleanup(func() { walChunk = n }) }(walChunk)
	walChunk = 512
	return dir
}

// fill writes a file that takes all the free space but keep bytes.
func fill(t *testing.T, dir string, keep int64) string {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	free := int64(st.Bavail)*st.Bsize - keep
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for free > 0 {
		n := min(free, int64(len(buf)))
		if _, err := f.Write(buf[:n]); err != nil {
			break
		}
		free -= n
	}
	return path
}

// TestDiskFull: Puts fail with ENOSPC once the disk is full
// (none acknowledged falsely), the log is not left broken, checkpoints and
// Close fail without losing anything and release the lock, and once space
// is back everything acknowledged is there.
func TestDiskFull(t *testing.T) {
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
	filler := fill(t, root, 6<<10)
	// Many concurrent Puts until the disk is full: some batches fail
	// part-way.
	acked := map[string]string{}
	var mu sync.Mutex
	var failed int
	for round := 1; round < 200 && failed < 50; round++ {
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Go(func() {
				name, id := fmt.Sprintf("n%02d", i), fmt.Sprintf("EXO%d-%s", round, strings.Repeat("x", 100))
				err := s.Put(Record{Policy: "p", Name: name, CurrentKeyID: id})
				mu.Lock()
				defer mu.Unlock()
				if err == nil {
					acked[name] = id
				} else {
					failed++
					if !errors.Is(err, syscall.ENOSPC) {
						t.Errorf("Put: %v, want ENOSPC", err)
					}
				}
			})
		}
		wg.Wait()
	}
	if failed == 0 {
		t.Fatal("the disk never filled")
	}
	// The in-memory view is the acknowledged state.
	for name, id := range acked {
		if r, _ := s.Get("p", name); r.CurrentKeyID != id {
			t.Errorf("in memory %s = %.10q, want the acknowledged %.10q", name, r.CurrentKeyID, id)
		}
	}
	// A checkpoint with the disk full fails and keeps the logs.
	if err := s.checkpoint(); err == nil {
		t.Log("checkpoint succeeded with the disk full")
	}
	closeErr := s.Close()
	t.Logf("Close with the disk full: %v", closeErr)
	// The lock is released: a crash-free reopen works once there is room.
	os.Remove(filler)
	s = mustOpen(t, dir)
	for i := range 20 {
		name := fmt.Sprintf("n%02d", i)
		want := acked[name]
		if want == "" {
			want = "EXO0"
		}
		if r, _ := s.Get("p", name); r.CurrentKeyID != want {
			t.Errorf("after reopen %s = %.10q, want the acknowledged %.10q", name, r.CurrentKeyID, want)
		}
	}
	// And writes work again.
	if err := s.Put(Record{Policy: "p", Name: "after", CurrentKeyID: "EXO"}); err != nil {
		t.Errorf("Put once space is back: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestOpenDiskFull: with the disk full, Open works after a clean
// stop (it writes nothing) and after a crash (the checkpoint of the logs
// fails, the logs stay), and nothing acknowledged is lost.
func TestOpenDiskFull(t *testing.T) {
	for _, crashed := range []bool{false, true} {
		t.Run(fmt.Sprintf("after a crash %v", crashed), func(t *testing.T) {
			root := smallFS(t, 1<<20)
			dir := filepath.Join(root, "state")
			s := mustOpen(t, dir)
			if err := s.Put(Record{Policy: "p", Name: "n", CurrentKeyID: "EXO1"}); err != nil {
				t.Fatal(err)
			}
			if crashed {
				crash(t, s)
			} else if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			fill(t, root, 0)
			if s, err := Open(dir); err != nil {
				t.Errorf("Open with the disk full: %v", err)
			} else {
				s.Close()
			}
			if ro, err := OpenReadOnly(dir); err != nil {
				t.Errorf("OpenReadOnly: %v", err)
			} else if r, _ := ro.Get("p", "n"); r.CurrentKeyID != "EXO1" {
				t.Errorf("read-only: %q", r.CurrentKeyID)
			}
		})
	}
}

// TestCheckpointCreateWALFails: the next log's name is taken
// (a directory of that name): the checkpoint works, the next write cannot
// start a log and fails (nothing falsely acknowledged), Close works and
// nothing acknowledged is lost.
func TestCheckpointCreateWALFails(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	if err := s.Put(Record{Policy: "p", Name: "a", CurrentKeyID: "EXO1"}); err != nil {
		t.Fatal(err)
	}
	block := filepath.Join(dir, walName(s.nextSeq))
	if err := os.Mkdir(block, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := s.checkpoint(); err != nil {
		t.Fatalf("checkpoint: %v", err)
	}
	if err := s.Put(Record{Policy: "p", Name: "a", CurrentKeyID: "EXO2"}); err == nil {
		t.Fatal("Put succeeded though no log could be started")
	}
	if r, _ := s.Get("p", "a"); r.CurrentKeyID != "EXO1" {
		t.Errorf("in memory a = %q, want EXO1", r.CurrentKeyID)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	os.Remove(block)
	s = mustOpen(t, dir) // the lock was released
	defer s.Close()
	if r, _ := s.Get("p", "a"); r.CurrentKeyID != "EXO1" {
		t.Errorf("a = %q, want EXO1", r.CurrentKeyID)
	}
}

// TestSyncFSFailsThenCrash: checkpoints whose syncfs fails again
// and again, writes in between, Close failing; then a crash and torn
// record files: everything acknowledged is there.
func TestSyncFSFailsThenCrash(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	s.syncFS = func(*os.File) error { return errors.New("EIO") }
	for v := range 5 {
		for i := range 10 {
			if err := s.Put(Record{Policy: "p", Name: fmt.Sprint("n", i), CurrentKeyID: fmt.Sprint("EXO", v)}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Delete("p", fmt.Sprint("n", v)); err != nil {
			t.Fatal(err)
		}
		if err := s.checkpoint(); err == nil {
			t.Fatal("checkpoint succeeded")
		}
	}
	if err := s.Close(); err == nil {
		t.Fatal("Close succeeded")
	}
	// Every record file may be torn (none was synced).
	for _, f := range recordFiles(t, dir) {
		os.WriteFile(f, []byte("{"), 0o600)
	}
	s = mustOpen(t, dir)
	defer s.Close()
	for i := range 10 {
		r, ok := s.Get("p", fmt.Sprint("n", i))
		if i == 4 { // deleted last; n0..n3 were put again after their deletion
			if ok {
				t.Errorf("n%d deleted, back as %q", i, r.CurrentKeyID)
			}
		} else if r.CurrentKeyID != "EXO4" {
			t.Errorf("n%d = %q, want EXO4", i, r.CurrentKeyID)
		}
	}
}
