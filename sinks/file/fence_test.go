package file

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// A replica that loses the Lease while it writes and syncs the new file
// (or is paused meanwhile) must not put it in the target's place: the new
// leader may have rolled back the key it holds. The fence is asked right
// before the rename, after everything else of the write.
func TestWriteAsksTheFenceBeforeTheRename(t *testing.T) {
	deposed := errors.New("this replica does not hold the Lease")
	var lost atomic.Bool
	dir := t.TempDir()
	s := newSink(t, dir, FormatJSON, func(o *Options) {
		o.Fence = func() (time.Time, error) {
			if lost.Load() {
				return time.Time{}, deposed
			}
			return time.Now().Add(time.Minute), nil
		}
	})
	ctx := context.Background()
	old := cred("k", "EXOold", "old-secret")
	if err := s.Write(ctx, old); err != nil {
		t.Fatalf("Write while leading: %v", err)
	}
	before := readString(t, filepath.Join(dir, "k.cred"))
	// The Lease is lost once the file is complete, as the rename comes.
	s.inject = func(step string) error {
		if step == "rename" {
			lost.Store(true)
		}
		return nil
	}
	next := cred("k", "EXOnew", testSecret)
	if err := s.Write(ctx, next); !errors.Is(err, deposed) {
		t.Fatalf("Write after the Lease was lost = %v, want the fence's error", err)
	}
	if got := readString(t, filepath.Join(dir, "k.cred")); got != before {
		t.Errorf("target changed to:\n%s", got)
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{"k.cred"}) {
		t.Errorf("directory holds %q, want only the target", names)
	}
	// Leading again: the write goes.
	s.inject = nil
	lost.Store(false)
	if err := s.Write(ctx, next); err != nil {
		t.Fatalf("Write with the Lease held again: %v", err)
	}
	if err := s.Verify(ctx, next); err != nil {
		t.Errorf("Verify(next): %v", err)
	}
}
