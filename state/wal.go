package state

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// The write-ahead log. A Put or Delete is one frame appended to the
// active log file and made durable with fdatasync; the Puts of rotations
// in flight at the same moment share one write and one fdatasync (group
// commit). A checkpoint (store.go) later writes the records to their JSON
// files and removes the logs it covered.
//
// A log file starts with walMagic, then frames, then zeros (the file grows
// by chunks ahead of the frames):
//
//	length uint32 big-endian | CRC-32C of payload uint32 big-endian | payload
//
// where the payload is a walEntry in JSON. A zero length, or a frame that
// is short or fails its CRC, ends the file's valid content: it can only be the tail of a batch
// whose fdatasync had not returned, so no caller was told it was durable.

const (
	walMagic     = "rotatord-wal-1\n"
	walPrefix    = "journal."
	walSuffix    = ".wal"
	maxFrameSize = 1 << 24 // a record is a few hundred bytes; more is not a frame
	// maxSeq bounds a log's sequence number, far from wrapping: one log a
	// second would take 146 billion years to reach it.
	maxSeq = 1 << 62
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// walEntry is one logged change: a record's new version, or its deletion.
type walEntry struct {
	Put    *Record   `json:"put,omitempty"`
	Delete *recordID `json:"delete,omitempty"`
}

type recordID struct {
	Policy string `json:"policy"`
	Name   string `json:"name"`
}

func walName(seq uint64) string {
	return fmt.Sprintf("%s%020d%s", walPrefix, seq, walSuffix)
}

// walFile is a log file found in the state directory.
type walFile struct {
	seq  uint64
	path string
}

// listWALs returns the state directory's log files, oldest first.
func listWALs(dir string) ([]walFile, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	var out []walFile
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, walPrefix) || !strings.HasSuffix(name, walSuffix) {
			continue
		}
		digits := strings.TrimSuffix(strings.TrimPrefix(name, walPrefix), walSuffix)
		if len(digits) != 20 {
			continue // not a name walName gives
		}
		seq, err := strconv.ParseUint(digits, 10, 64)
		if err != nil {
			continue
		}
		if seq > maxSeq {
			return nil, fmt.Errorf("state log %s: sequence number too large", filepath.Join(dir, name))
		}
		out = append(out, walFile{seq: seq, path: filepath.Join(dir, name)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out, nil
}

// replayWAL calls fn with each whole entry of the log at path, in order.
// A missing file is empty (a read-only view may race a checkpoint that
// removed it).
func replayWAL(path string, fn func(walEntry) error) error {
	// O_NONBLOCK: a FIFO named like a log must not hang the start.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("state log %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("state log %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("state log %s: not a regular file", path)
	}
	r := bufio.NewReaderSize(f, 64<<10)
	magic := make([]byte, len(walMagic))
	if n, err := io.ReadFull(r, magic); err != nil {
		if n == 0 || errors.Is(err, io.ErrUnexpectedEOF) && walMagic[:n] == string(magic[:n]) {
			return nil // created, header not yet durable: no entry can follow it
		}
		return fmt.Errorf("state log %s: %w", path, err)
	}
	if string(magic) != walMagic {
		// A crash after the header's write and before its sync can leave
		// it zeros, whole or in part: no entry was synced after it.
		i := 0
		for i < len(magic) && magic[i] == walMagic[i] {
			i++
		}
		if strings.Trim(string(magic[i:]), "\x00") == "" {
			return nil
		}
		return fmt.Errorf("state log %s: not a rotatord log (bad header)", path)
	}
	var head [8]byte
	var payload []byte
	for off := int64(len(walMagic)); ; {
		if _, err := io.ReadFull(r, head[:]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil
			}
			return fmt.Errorf("state log %s: %w", path, err)
		}
		n := binary.BigEndian.Uint32(head[0:4])
		if n == 0 || n > maxFrameSize {
			return nil // torn tail
		}
		if cap(payload) < int(n) {
			payload = make([]byte, n)
		}
		payload = payload[:n]
		if _, err := io.ReadFull(r, payload); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil
			}
			return fmt.Errorf("state log %s: %w", path, err)
		}
		if crc32.Checksum(payload, castagnoli) != binary.BigEndian.Uint32(head[4:8]) {
			return nil // torn tail
		}
		var e walEntry
		if err := json.Unmarshal(payload, &e); err != nil {
			return fmt.Errorf("state log %s at byte %d: %w", path, off, err)
		}
		if err := fn(e); err != nil {
			return fmt.Errorf("state log %s at byte %d: %w", path, off, err)
		}
		off += int64(8 + n)
	}
}

func appendFrame(dst, payload []byte) []byte {
	var head [8]byte
	binary.BigEndian.PutUint32(head[0:4], uint32(len(payload)))
	binary.BigEndian.PutUint32(head[4:8], crc32.Checksum(payload, castagnoli))
	return append(append(dst, head[:]...), payload...)
}

// wal is the active log file, with group commit: a caller appends its
// frame to the pending batch; the first caller to find no write under way
// writes every pending frame and syncs once, for all of them.
type wal struct {
	seq  uint64
	path string
	f    *os.File
	// sync makes the written batch durable: fdatasync, a field so tests
	// can hold or fail it.
	sync func(*os.File) error

	mu      sync.Mutex
	cond    *sync.Cond
	pending []byte // frames of the next batch
	cur     *batch // the next batch
	spare   []byte // the buffer of the batch being written, reused
	writing bool
	size    int64 // durable bytes: where the next batch is written
	// allocated is the file's size: past size it holds zeros, written in
	// chunks of walChunk ahead of the batches, so that the fdatasync of a
	// batch rarely has the file's size (its inode) to write as well.
	allocated int64
	// broken is set when a failed write could not be undone: what the
	// file holds is unknown, so nothing more may be appended to it.
	broken error
}

// batch is the outcome of one write and sync, shared by the callers whose
// frames it carried.
type batch struct {
	done bool
	err  error
}

// createWAL makes a new, empty log file durable: its header synced and its
// name in the directory synced, so a frame later synced in it cannot be
// lost with the file.
func createWAL(dir string, seq uint64, syncDir func(string) error, syncData func(*os.File) error) (*wal, error) {
	path := filepath.Join(dir, walName(seq))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("state log: %w", err)
	}
	fail := func(err error) (*wal, error) {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("state log %s: %w", path, err)
	}
	if _, err := f.Write([]byte(walMagic)); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := syncDir(dir); err != nil {
		return fail(err)
	}
	n := int64(len(walMagic))
	w := &wal{seq: seq, path: path, f: f, cur: &batch{}, size: n, allocated: n, sync: syncData}
	w.cond = sync.NewCond(&w.mu)
	return w, nil
}

// append makes frame durable in the log, in a batch with the frames of
// concurrent callers. On error the frame is not in the log's durable
// content: the file was cut back to what it held before the batch.
func (w *wal) append(frame []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.broken != nil {
		return w.broken
	}
	w.pending = append(w.pending, frame...)
	mine := w.cur
	for !mine.done {
		if w.broken != nil {
			return w.broken
		}
		if w.writing {
			w.cond.Wait()
			continue
		}
		w.flushLocked()
	}
	return mine.err
}

// flushLocked writes and syncs the pending batch, with w.mu released
// during the system calls.
func (w *wal) flushLocked() {
	w.writing = true
	b, buf := w.cur, w.pending
	w.cur = &batch{}
	w.pending = w.spare[:0]
	w.mu.Unlock()

	err := w.extend(w.size + int64(len(buf)))
	wrote := err == nil
	if wrote {
		_, err = w.f.WriteAt(buf, w.size)
	}
	if err == nil {
		err = w.sync(w.f)
	}
	var broken error
	if err != nil && wrote {
		// Zero what the batch may have written, so that a later, shorter
		// batch at the same place is not followed by frames of this one.
		// (When the extension failed the batch was not written, and what
		// the extension wrote is zeros.)
		if zerr := w.zero(w.size, int64(len(buf))); zerr != nil {
			broken = fmt.Errorf("state log %s: cannot undo a failed write: %w", w.path, zerr)
		} else if serr := w.f.Sync(); serr != nil {
			broken = fmt.Errorf("state log %s: cannot undo a failed write: %w", w.path, serr)
		}
	}

	w.mu.Lock()
	w.writing = false
	if err == nil {
		w.size += int64(len(buf))
	}
	b.done, b.err = true, err
	if broken != nil {
		w.broken = broken
	}
	if cap(buf) <= 1<<20 { // keep a normal batch's buffer, not a huge one
		w.spare = buf[:0]
	} else {
		w.spare = nil // not the array w.pending took at the start
	}
	w.cond.Broadcast()
}

// walChunk is how much the log file grows at a time, with zeros; a
// variable for tests that fill a small disk.
var walChunk int64 = 1 << 20

var zeros = make([]byte, 64<<10)

// extend makes the file at least end bytes long, in chunks of zeros. It
// runs with w.mu released, only ever from the batch being written.
func (w *wal) extend(end int64) error {
	if end <= w.allocated {
		return nil
	}
	grow := max(walChunk, end-w.allocated)
	if err := w.zero(w.allocated, grow); err != nil {
		return err
	}
	w.allocated += grow
	return nil
}

// zero writes n zero bytes at off.
func (w *wal) zero(off, n int64) error {
	for n > 0 {
		c := min(n, int64(len(zeros)))
		if _, err := w.f.WriteAt(zeros[:c], off); err != nil {
			return err
		}
		off, n = off+c, n-c
	}
	return nil
}

// usable reports whether the log still takes writes: no failed write left
// it in a state it could not undo.
func (w *wal) usable() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.broken == nil
}

// Size returns the log's durable size in bytes.
func (w *wal) Size() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.size
}

func (w *wal) close() error { return w.f.Close() }
