package rotation

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/rotatord/rotatord/state"
)

// crashCopy returns a copy of the state directory as a SIGKILL would leave
// it now: the files as they are, the store never closed.
func crashCopy(t *testing.T, dir string) string {
	t.Helper()
	out := t.TempDir()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(out, rel), 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(out, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// The step that records an old key's deletion is queued, not synced
// (state.Store.PutQueued): a crash right after it leaves the record as it
// was at delivery. The restarted engine must finish that rotation (the old
// key found gone) without a failure, a new key or another deletion.
func TestCrashLosingTheDeletionRecordFinishesTheRotation(t *testing.T) {
	h := newHarness(t, 0)
	old := h.api.add("ci-runner", roleCI)
	h.pass(Options{Force: true})
	live := h.api.live("ci-runner")
	if len(live) != 1 || live[0] == old || !slices.Contains(h.api.deleted, old) {
		t.Fatalf("setup: live %v, deleted %v (old %s)", live, h.api.deleted, old)
	}
	current := live[0]

	h.dir = crashCopy(t, h.dir)
	h.store = nil // the crashed process's store is not closed
	h.openStore()
	if r := h.record("ci-runner"); r.Rotation == nil || r.CurrentKeyID != current {
		t.Fatalf("setup: after the crash the record should still show the delivered rotation of %s (its deletion step queued, not synced): %+v", current, r)
	}
	h.newEngine()
	deletes := len(h.api.deleted)
	out := h.pass(Options{})
	if o := findOutcome(out, "ci-runner"); o.Err != nil {
		t.Fatalf("the pass after the crash failed ci-runner: %v", o.Err)
	}
	if r := h.record("ci-runner"); r.Rotation != nil || r.CurrentKeyID != current {
		t.Fatalf("after the pass: record %+v, want the rotation finished on %s", r, current)
	}
	if live := h.api.live("ci-runner"); len(live) != 1 || live[0] != current {
		t.Fatalf("after the pass: live %v, want only %s", live, current)
	}
	if got := h.sinkA.holds("ci-runner"); got != current {
		t.Fatalf("sink a holds %q, want %q", got, current)
	}
	if n := len(h.api.deleted); n != deletes {
		t.Fatalf("the pass deleted %v, want nothing more", h.api.deleted[deletes:])
	}
	h.assertNoSecretLeak()
}

var _ state.Queuer = (*state.Store)(nil)
