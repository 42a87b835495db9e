package state

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// Review 16d: Put, Delete, Get, Has, List, Each racing background
// checkpoints (by size and by idle timer) and Close. Each key has one
// writer, so its acknowledged state is defined; after Close (and after
// the idle timer could fire) a new Open must load exactly it, and nothing
// may touch the directory once Close returned.
func TestRacingCheckpointsAndClose(t *testing.T) {
	if testing.Short() {
		t.Skip("long: runs without -short")
	}
	defer func(n int64, d time.Duration) { walCheckpointSize, walIdleCheckpoint = n, d }(walCheckpointSize, walIdleCheckpoint)
	walCheckpointSize, walIdleCheckpoint = 8<<10, time.Millisecond
	for iter := range 20 {
		dir := t.TempDir()
		s := mustOpen(t, dir)
		const writers, keys = 16, 8
		acked := make([][]string, writers) // "" deleted
		var wg sync.WaitGroup
		for w := range writers {
			acked[w] = make([]string, keys)
			wg.Go(func() {
				for v := 0; ; v++ {
					k := v % keys
					name := fmt.Sprintf("w%02d-k%d", w, k)
					var err error
					id := fmt.Sprintf("EXO-%d-%d", iter, v)
					if v%7 == 3 {
						err = s.Delete("p", name)
						id = ""
					} else {
						err = s.Put(Record{Policy: "p", Name: name, CurrentKeyID: id})
					}
					if errors.Is(err, ErrClosed) {
						return
					}
					if err != nil {
						t.Error(err)
						return
					}
					acked[w][k] = id
				}
			})
		}
		stop := make(chan struct{})
		var readers sync.WaitGroup
		for range 4 {
			readers.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					s.Get("p", "w00-k1")
					s.Has("p", "w01-k2")
					_ = s.List("")
					n := 0
					s.Each("", func(r *Record) { n++ })
				}
			})
		}
		time.Sleep(time.Duration(20+iter*5) * time.Millisecond)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		close(stop)
		readers.Wait()
		after := readTree(t, dir)
		time.Sleep(20 * time.Millisecond) // the idle timer, had it been left armed
		if now := readTree(t, dir); len(now) != len(after) {
			t.Errorf("the directory changed after Close: %d files, then %d", len(after), len(now))
		}
		s = mustOpen(t, dir)
		for w := range writers {
			for k := range keys {
				name := fmt.Sprintf("w%02d-k%d", w, k)
				r, ok := s.Get("p", name)
				if want := acked[w][k]; want == "" && ok || want != "" && r.CurrentKeyID != want {
					t.Errorf("iter %d: %s = %q (present %v), want %q", iter, name, r.CurrentKeyID, ok, want)
				}
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
