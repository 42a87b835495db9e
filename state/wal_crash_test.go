package state

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Review 16d: a crash at every hook of a checkpoint and of the log append,
// under two models. SIGKILL: the directory exactly as it is at that
// instant. Power loss: besides, what was not yet synced may be lost or
// torn: record files written since the last syncfs (torn, empty, the
// previous durable version, missing), files removed since then (back),
// logs removed after the last syncfs (back), the unsynced tail of the log
// (cut anywhere), a new log whose directory entry was not synced (gone).
// Every variant must open, and load the acknowledged state exactly (or,
// for a Put in flight, its new version).

type crashHarness struct {
	t       *testing.T
	dir     string
	s       *Store
	rng     *rand.Rand
	ack     map[string]string // name -> CurrentKeyID acknowledged; absent: deleted
	pending map[string]string // name -> version of a Put in flight ("" delete)
	// durable is the records/ content as of the last successful syncfs.
	durable map[string][]byte
	// logsAtSync are the log files (and contents) at the last syncfs.
	logsAtSync map[string][]byte
	variants   int
	inHook     bool
}

func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil // removed meanwhile
		}
		rel, _ := filepath.Rel(dir, p)
		out[rel] = b
		return nil
	})
	return out
}

func writeTree(t *testing.T, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, recordsDir), 0o700)
	for rel, b := range files {
		if err := os.WriteFile(filepath.Join(dir, rel), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func (h *crashHarness) expect(tree map[string][]byte, what string) {
	h.t.Helper()
	h.variants++
	dir := writeTree(h.t, tree)
	for pass := 0; pass < 2; pass++ {
		s, err := Open(dir)
		if err != nil {
			h.t.Fatalf("%s (open %d): %v", what, pass, err)
		}
		got := map[string]string{}
		for _, r := range s.List("") {
			got[r.Name] = r.CurrentKeyID
		}
		for name, want := range h.ack {
			if g, ok := got[name]; !ok || g != want {
				if p, inFlight := h.pending[name]; inFlight && (p == "" && !ok || p != "" && g == p) {
					continue
				}
				h.t.Errorf("%s (open %d): %s = %q (present %v), want the acknowledged %q", what, pass, name, g, ok, want)
			}
		}
		for name, g := range got {
			if _, ok := h.ack[name]; !ok {
				if p, inFlight := h.pending[name]; inFlight && p == g {
					continue
				}
				h.t.Errorf("%s (open %d): %s = %q, deleted (or never written)", what, pass, name, g)
			}
		}
		if err := s.Close(); err != nil {
			h.t.Fatalf("%s: close: %v", what, err)
		}
	}
}

// sigkill: the directory as it is.
func (h *crashHarness) sigkill(what string) map[string][]byte {
	tree := readTree(h.t, h.dir)
	delete(tree, lockFile)
	h.expect(tree, "SIGKILL "+what)
	return tree
}

// powerLoss: the unsynced record files and removals lost or torn.
func (h *crashHarness) powerLoss(what string, tree map[string][]byte) {
	for mode := 0; mode < 4; mode++ {
		v := map[string][]byte{}
		for rel, b := range tree {
			v[rel] = b
		}
		for rel, old := range h.durable {
			if _, ok := v[rel]; !ok {
				v[rel] = old // an unsynced removal undone
			}
		}
		for rel, b := range tree {
			if !strings.HasPrefix(rel, recordsDir+"/") {
				continue
			}
			old, wasDurable := h.durable[rel]
			if wasDurable && bytes.Equal(old, b) {
				continue
			}
			switch m := mode; {
			case m == 3:
				m = h.rng.IntN(3)
				fallthrough
			case m == 0:
				v[rel] = b[:len(b)/2] // torn
			case m == 1:
				v[rel] = nil // size committed, data not
			case m == 2:
				if wasDurable {
					v[rel] = old
				} else {
					delete(v, rel)
				}
			}
		}
		// Logs removed since the last syncfs come back.
		for rel, b := range h.logsAtSync {
			if _, ok := v[rel]; !ok {
				v[rel] = b
			}
		}
		h.expect(v, fmt.Sprintf("power loss (mode %d) %s", mode, what))
	}
}

func (h *crashHarness) hookLog() {
	h.s.logSync = func(f *os.File) error {
		// Crash after the write of the batch, before its sync: the batch
		// may be whole, cut anywhere, or absent.
		tree := h.sigkill("before fdatasync")
		logName := filepath.Base(f.Name())
		b := tree[logName]
		durable := int(h.s.log.Size()) // what earlier batches made durable
		for _, cut := range []int{durable, durable + 3, len(b) - 1, len(b) - 9, durable + h.rng.IntN(len(b)-durable+1)} {
			if cut < durable || cut > len(b) {
				continue
			}
			v := map[string][]byte{}
			for k, x := range tree {
				v[k] = x
			}
			v[logName] = b[:cut]
			h.expect(v, fmt.Sprintf("log cut at %d of %d before fdatasync", cut, len(b)))
		}
		return fdatasync(f)
	}
}

func (h *crashHarness) op() {
	name := fmt.Sprintf("k%02d", h.rng.IntN(12))
	if h.rng.IntN(5) == 0 {
		h.pending = map[string]string{name: ""}
		if err := h.s.Delete("p", name); err != nil {
			h.t.Fatal(err)
		}
		delete(h.ack, name)
	} else {
		v := fmt.Sprintf("EXO-%s-%d", name, h.rng.Int64())
		h.pending = map[string]string{name: v}
		if err := h.s.Put(Record{Policy: "p", Name: name, CurrentKeyID: v}); err != nil {
			h.t.Fatal(err)
		}
		h.ack[name] = v
	}
	h.pending = nil
}

func TestCrashAtEveryHook(t *testing.T) {
	if testing.Short() {
		t.Skip("long: runs without -short")
	}
	defer func(n int64, d time.Duration) { walCheckpointSize, walIdleCheckpoint = n, d }(walCheckpointSize, walIdleCheckpoint)
	walCheckpointSize, walIdleCheckpoint = 1<<40, time.Hour // checkpoints only when the test says
	for seed := uint64(1); seed <= 4; seed++ {
		h := &crashHarness{t: t, dir: t.TempDir(), rng: rand.New(rand.NewPCG(seed, 16)), ack: map[string]string{}}
		h.s = mustOpen(t, h.dir)
		h.durable = map[string][]byte{}
		h.logsAtSync = map[string][]byte{}
		h.s.syncDir = func(d string) error {
			tree := h.sigkill("in createWAL, before the directory sync")
			// Power loss: the new log's name may not be durable.
			logs := logFiles(t, h.dir)
			v := map[string][]byte{}
			for k, x := range tree {
				v[k] = x
			}
			delete(v, filepath.Base(logs[len(logs)-1].path))
			h.expect(v, "power loss in createWAL: the new log's name lost")
			return syncDir(d)
		}
		h.s.syncFS = func(d *os.File) error {
			if !h.inHook {
				// A change while the files are being written.
				h.inHook = true
				h.op()
				h.inHook = false
			}
			tree := h.sigkill("in checkpoint, before syncfs")
			h.powerLoss("in checkpoint, before syncfs", tree)
			if err := syncFS(d); err != nil {
				return err
			}
			tree = h.sigkill("in checkpoint, after syncfs")
			h.durable, h.logsAtSync = map[string][]byte{}, map[string][]byte{}
			for rel, b := range tree {
				if strings.HasPrefix(rel, recordsDir+"/") && !strings.HasPrefix(rel, recordsDir+"/.") {
					h.durable[rel] = b
				} else if strings.HasPrefix(rel, walPrefix) {
					h.logsAtSync[rel] = b
				}
			}
			// A record changed (and one deleted) while the checkpoint runs.
			if !h.inHook {
				h.inHook = true
				h.op()
				h.op()
				h.inHook = false
				h.sigkill("in checkpoint, changes after syncfs")
			}
			return nil
		}
		h.hookLog()
		for i := 0; i < 60; i++ {
			h.op()
			if h.rng.IntN(6) == 0 {
				if err := h.s.checkpoint(); err != nil {
					t.Fatal(err)
				}
				h.hookLog()
				tree := h.sigkill("after a checkpoint")
				h.powerLoss("after a checkpoint (log removals lost)", tree)
			}
		}
		if err := h.s.Close(); err != nil {
			t.Fatal(err)
		}
		tree := readTree(t, h.dir)
		delete(tree, lockFile)
		h.expect(tree, "after Close")
		h.powerLoss("after Close", tree)
		t.Logf("seed %d: %d crash states opened", seed, h.variants)
	}
}
