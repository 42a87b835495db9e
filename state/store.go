package state

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Store keeps the records in memory and on disk in two forms: one small
// JSON file per record (records/), written by checkpoints, and a
// write-ahead log (journal.N.wal, wal.go) that every Put and Delete is
// appended to and synced in before it returns. Loading reads the files,
// then replays the logs over them, so a record's newest version is the
// log's when the log has it.
//
// The log makes a durable step cost one write and one fdatasync, shared by
// the steps of every rotation in flight, instead of a temp file, two
// fsyncs and a rename per step. The files keep the records readable (and
// editable, with rotatord stopped) by an operator: a checkpoint writes the
// records changed since the last one when the log passes walCheckpointSize,
// after walIdleCheckpoint without a write, and at Close, then removes the
// logs it covered.
type Store struct {
	dir      string
	lock     *os.File
	readOnly bool

	mu      sync.Mutex
	records map[recordKey]*Record
	// version counts the changes to records (Version).
	version uint64
	// dirty are the records changed (or deleted) since the last checkpoint
	// took its snapshot.
	dirty map[recordKey]struct{}

	// writeMu is held shared by Put and Delete from the log append to the
	// update of records, and exclusively by a checkpoint while it switches
	// to a new log: a switch never falls between a change's log entry and
	// its update in memory, so the snapshot a checkpoint writes holds every
	// change of the logs it removes.
	writeMu sync.RWMutex
	// log is the log writes go to, created by the first write after Open
	// or after a checkpoint (so that a store nobody writes to writes
	// nothing, not even on a full disk); nil until then.
	log     *wal
	nextSeq uint64 // the sequence number of the next log
	closed  bool   // guarded by writeMu
	closeMu sync.Mutex
	// checkpointAt is the size of the active log past which a write
	// starts a checkpoint, when it is more than walCheckpointSize: a log
	// a failed checkpoint put back in service (keepInService) is past the
	// size already, and an attempt at every write would take it out of
	// service again and again, each time making the writes meanwhile
	// start a new log, which a full disk refuses. 0 until then.
	checkpointAt atomic.Int64
	// ckptMu makes checkpoints run one at a time.
	ckptMu     sync.Mutex
	ckptQueued atomic.Bool
	// ckptRunning is closed when the checkpoint that has the log out of
	// service ends (nil when none has); guarded by writeMu.
	ckptRunning chan struct{}
	// ckptForced: the queued checkpoint runs whatever the log's size (the
	// idle timer, a broken log).
	ckptForced atomic.Bool
	closing    bool // guarded by mu: no checkpoint starts in the background
	idle       *time.Timer
	background sync.WaitGroup

	// syncDir is a field so tests can count directory syncs.
	syncDir func(string) error
	// logSync makes a batch of the log durable: fdatasync, a field so
	// tests can hold or fail it.
	logSync func(*os.File) error
	// syncFS makes every file written in the records directory durable
	// (given that directory, opened before the files were written); a
	// field so tests can make it fail.
	syncFS func(dir *os.File) error
}

type recordKey struct{ policy, name string }

const (
	recordsDir = "records"
	lockFile   = "lock"
)

var (
	// walCheckpointSize is the log size past which a checkpoint starts in
	// the background. A forced pass over 10,000 names logs about 30 MB:
	// with 8 MB it checkpoints three times while its requests wait on the
	// API, and Close writes the last 2,500 records or so, in 0.3 s. With
	// 64 MB Close wrote all 10,000 after the pass, in 1.6-2.2 s, for the
	// same calls in flight during the pass (bench/README.md).
	walCheckpointSize int64 = 8 << 20
	// walIdleCheckpoint is how long after the last write a checkpoint
	// brings the record files up to date.
	walIdleCheckpoint = 5 * time.Second
)

// ErrLocked means another rotatord holds the state directory.
var ErrLocked = errors.New("state directory is in use by another rotatord process")

// ErrReadOnly is what writes to a store opened with OpenReadOnly return.
var ErrReadOnly = errors.New("state store opened read-only")

// ErrClosed is what writes to a closed store return.
var ErrClosed = errors.New("state store closed")

// OpenReadOnly loads the records without taking the lock, so `plan` can
// look while the daemon runs. A missing directory is an empty store. The
// view may be a moment old (a checkpoint may run while it reads); every
// write fails with ErrReadOnly.
func OpenReadOnly(dir string) (*Store, error) {
	if abs, err := filepath.Abs(dir); err == nil {
		// The reader is often not the daemon's user (root running plan
		// or state export): the state directory's owner, the daemon's
		// user, is trusted with the directories on the path as the
		// daemon trusts itself (never with a symlink).
		owner := -1
		if fi, err := os.Stat(abs); err == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				owner = int(st.Uid)
			}
		}
		if err := checkPath(abs, owner); err != nil {
			return nil, err
		}
	}
	s := newStore(dir)
	s.readOnly = true
	if _, err := os.Stat(filepath.Join(dir, recordsDir)); errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if _, err := s.load(); err != nil {
		return nil, err
	}
	return s, nil
}

func newStore(dir string) *Store {
	return &Store{
		dir: dir, records: map[recordKey]*Record{}, dirty: map[recordKey]struct{}{},
		syncDir: syncDir, syncFS: syncFS, logSync: fdatasync,
	}
}

// Open opens (creating it 0700 if needed) the state directory, takes an
// exclusive lock on it and loads every record. Logs left by a crash are
// checkpointed into the record files before it returns; if that fails
// (a full disk), the logs stay, to be replayed, and Open still succeeds.
func Open(dir string) (*Store, error) {
	if !filepath.IsAbs(dir) {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return nil, fmt.Errorf("state dir %q: %w", dir, err)
		}
		dir = abs
	}
	if err := CheckPath(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, recordsDir), 0o700); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	// Every later step goes by path: resolved now, a symlink on the way
	// pointed elsewhere later (a policy directory that is a link to the
	// current release, state_dir: ./state) does not move the journal
	// away from its lock and its records.
	// Checked again after MkdirAll: a link planted while it ran.
	if err := CheckPath(dir); err != nil {
		return nil, err
	}
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	if err := checkPrivate(dir); err != nil {
		return nil, err
	}
	lock, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s: %w", dir, ErrLocked)
		}
		return nil, fmt.Errorf("state dir %s: lock: %w", dir, err)
	}
	s := newStore(dir)
	s.lock = lock
	logs, err := s.load()
	if err != nil {
		s.Close()
		return nil, err
	}
	s.nextSeq = 1
	if len(logs) > 0 {
		s.nextSeq = logs[len(logs)-1].seq + 1
		// What the logs hold goes to the files now, so that they are the
		// records as the crash left them. If that fails (a full disk) the
		// logs stay and are replayed next time: nothing is lost, and
		// rotatord can still start and say what fails.
		_ = s.checkpoint()
	}
	return s, nil
}

// checkPrivate refuses a state directory (or its records directory) that
// others can write to or that another user owns: whoever can write a
// record can make rotatord delete keys.
func checkPrivate(dir string) error {
	for _, d := range []string{dir, filepath.Join(dir, recordsDir)} {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("state dir: %w", err)
		}
		if fi.Mode().Perm()&0o022 != 0 {
			return fmt.Errorf("state dir %s: mode %04o lets others write; use 0700", d, fi.Mode().Perm())
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
			return fmt.Errorf("state dir %s: owned by uid %d, not by rotatord's uid %d", d, st.Uid, os.Geteuid())
		}
	}
	return nil
}

// load reads the record files, then replays the logs over them. A record
// the logs hold is taken from them, and its file is not read: a crash
// during a checkpoint may have left it torn, and the log is newer anyway.
// It returns the logs it replayed.
func (s *Store) load() ([]walFile, error) {
	logs, err := listWALs(s.dir)
	if err != nil {
		return nil, err
	}
	logged := map[recordKey]*Record{} // nil: deleted
	for _, l := range logs {
		err := replayWAL(l.path, func(e walEntry) error {
			switch {
			case e.Put != nil && e.Delete == nil:
				if e.Put.Policy == "" || e.Put.Name == "" {
					return errors.New("record without policy or name")
				}
				r := *e.Put
				logged[recordKey{r.Policy, r.Name}] = &r
			case e.Delete != nil && e.Put == nil:
				logged[recordKey{e.Delete.Policy, e.Delete.Name}] = nil
			default:
				return errors.New("entry is neither a put nor a delete")
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	fromLog := make(map[string]bool, len(logged))
	for k := range logged {
		fromLog[fileName(k.policy, k.name)] = true
	}

	dir := filepath.Join(s.dir, recordsDir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	var names []string
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			// A temp file left by a crash before its rename: the record it
			// was replacing is still whole.
			if !s.readOnly {
				_ = os.Remove(filepath.Join(dir, name))
			}
			continue
		}
		if !strings.HasSuffix(name, ".json") || fromLog[name] {
			continue
		}
		names = append(names, name)
	}
	recs, err := readRecordFiles(dir, names)
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		if r != nil {
			s.records[recordKey{r.Policy, r.Name}] = r
		}
	}
	for k, r := range logged {
		s.dirty[k] = struct{}{}
		if r == nil {
			delete(s.records, k)
		} else {
			s.records[k] = r
		}
	}
	return logs, nil
}

// Close brings the record files up to date, removes the logs and releases
// the lock. When its checkpoint fails, the logs stay: the next Open
// replays them. A second Close does nothing.
func (s *Store) Close() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	var err error
	if !s.readOnly {
		s.writeMu.RLock()
		closed := s.closed
		s.writeMu.RUnlock()
		if closed {
			return nil
		}
		s.mu.Lock()
		s.closing = true
		if s.idle != nil {
			s.idle.Stop()
		}
		s.mu.Unlock()
		s.background.Wait()
		err = s.checkpoint()
		s.writeMu.Lock()
		s.closed = true
		if s.log != nil { // a write raced Close: its log stays, to be replayed
			if cerr := s.log.close(); err == nil {
				err = cerr
			}
			s.log = nil
		}
		s.writeMu.Unlock()
	}
	if s.lock != nil {
		if lerr := s.lock.Close(); err == nil { // closing the descriptor drops the flock
			err = lerr
		}
		s.lock = nil
	}
	return err
}

// Dir returns the state directory.
func (s *Store) Dir() string { return s.dir }

// Get returns a copy of the record for a policy's key name.
func (s *Store) Get(policy, name string) (Record, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.records[recordKey{policy, name}]
	if !ok {
		return Record{}, false
	}
	return r.Clone(), true
}

// Has reports whether a record exists, without copying it.
func (s *Store) Has(policy, name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.records[recordKey{policy, name}]
	return ok
}

// List returns copies of every record of a policy ("" for all), sorted by
// policy then name.
func (s *Store) List(policy string) []Record {
	s.mu.Lock()
	out := make([]Record, 0, len(s.records))
	for k, r := range s.records {
		if policy == "" || k.policy == policy {
			out = append(out, r.Clone())
		}
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Policy != out[j].Policy {
			return out[i].Policy < out[j].Policy
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// Each calls fn with each record of policy (every record when empty), in
// no order, under the store's lock: fn must be quick, must not keep r or
// what it points to, must not change it, and must not call the store.
// It is List without the copies, for the metrics' scrape.
func (s *Store) Each(policy string, fn func(r *Record)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, r := range s.records {
		if policy == "" || k.policy == policy {
			fn(r)
		}
	}
}

// Version implements Versioned: it changes with every record the store
// puts or deletes.
func (s *Store) Version() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.version
}

// Put makes r durable, then updates the in-memory view. When Put returns
// an error the change may or may not be durable (a log write can fail
// after reaching the disk) and the in-memory view keeps the previous
// version: the caller treats the step as not done, and recovery copes
// with either.
func (s *Store) Put(r Record) error {
	if s.readOnly {
		return ErrReadOnly
	}
	if r.Policy == "" || r.Name == "" {
		return errors.New("state: record without policy or name")
	}
	b, err := json.Marshal(walEntry{Put: &r})
	if err != nil {
		return fmt.Errorf("state: encode %s/%s: %w", r.Policy, r.Name, err)
	}
	c := r.Clone()
	if err := s.write(recordKey{r.Policy, r.Name}, b, &c); err != nil {
		return fmt.Errorf("state: write %s/%s: %w", r.Policy, r.Name, err)
	}
	return nil
}

// Delete forgets a record.
func (s *Store) Delete(policy, name string) error {
	if s.readOnly {
		return ErrReadOnly
	}
	b, err := json.Marshal(walEntry{Delete: &recordID{Policy: policy, Name: name}})
	if err != nil {
		return fmt.Errorf("state: encode %s/%s: %w", policy, name, err)
	}
	if err := s.write(recordKey{policy, name}, b, nil); err != nil {
		return fmt.Errorf("state: delete %s/%s: %w", policy, name, err)
	}
	return nil
}

// write logs one change (r nil: a deletion) and applies it in memory.
func (s *Store) write(k recordKey, entry []byte, r *Record) error {
	if len(entry) > maxFrameSize {
		// Replay would take such a frame for a torn tail, and drop it and
		// every frame after it.
		return fmt.Errorf("%d bytes encoded: more than the log takes in one frame (%d)", len(entry), maxFrameSize)
	}
	frame := appendFrame(make([]byte, 0, 8+len(entry)), entry)
	for {
		s.writeMu.RLock()
		if s.closed {
			s.writeMu.RUnlock()
			return ErrClosed
		}
		if s.log != nil {
			break
		}
		s.writeMu.RUnlock()
		if err := s.startLog(); err != nil {
			// A checkpoint has the log out of service. Where a new log
			// cannot be made (a full disk) the checkpoint fails as well
			// and puts its log back: wait for it and write there. Another
			// checkpoint may take that log out again before this write
			// gets to it (the idle timer's, queued behind the first), so
			// wait as long as one runs. Each wait is for a different
			// checkpoint, and they only start when a write or the idle
			// timer asks.
			s.writeMu.RLock()
			running, back := s.ckptRunning, s.log != nil
			s.writeMu.RUnlock()
			switch {
			case back:
			case running != nil:
				<-running
			default:
				return err
			}
		}
	}
	if err := s.log.append(frame); err != nil {
		broken := !s.log.usable()
		s.writeMu.RUnlock()
		// A log whose failed write could not be undone takes nothing more:
		// a checkpoint takes it out of service and the next write starts a
		// new one, instead of every step failing until a restart. One that
		// undid it takes the next writes (a checkpoint would not make room
		// on a full disk either).
		if broken {
			s.checkpointInBackground(true)
		}
		return err
	}
	s.mu.Lock()
	if r == nil {
		delete(s.records, k)
	} else {
		s.records[k] = r
	}
	s.dirty[k] = struct{}{}
	s.version++
	s.mu.Unlock()
	past := s.pastSize()
	s.writeMu.RUnlock()

	if past {
		s.checkpointInBackground(false)
	} else {
		s.mu.Lock()
		if s.idle == nil {
			s.idle = time.AfterFunc(walIdleCheckpoint, func() { s.checkpointInBackground(true) })
		} else {
			s.idle.Reset(walIdleCheckpoint)
		}
		s.mu.Unlock()
	}
	return nil
}

// startLog creates the log writes go to, unless there is one.
func (s *Store) startLog() error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.closed || s.log != nil {
		return nil
	}
	l, err := createWAL(s.dir, s.nextSeq, s.syncDir, s.logSync)
	if err != nil {
		return err
	}
	s.log = l
	s.nextSeq++
	s.checkpointAt.Store(0)
	return nil
}

// pastSize reports whether the active log has grown past the size that
// starts a checkpoint; s.writeMu is held.
func (s *Store) pastSize() bool {
	return s.log != nil && s.log.Size() >= max(walCheckpointSize, s.checkpointAt.Load())
}

// checkpointInBackground starts a checkpoint unless one is already waiting
// to run. A failed checkpoint loses nothing (the logs stay) and the next
// write past the size or the next idle moment tries again. A checkpoint
// asked for by size (force false) looks at the size again when its turn
// comes: one queued behind a checkpoint that failed and put its log back
// would otherwise take that log out of service again at once.
func (s *Store) checkpointInBackground(force bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return
	}
	if force {
		s.ckptForced.Store(true) // before the queued check: a queued one runs it
	}
	if !s.ckptQueued.CompareAndSwap(false, true) {
		return
	}
	s.background.Add(1)
	go func() {
		defer s.background.Done()
		s.ckptMu.Lock()
		defer s.ckptMu.Unlock()
		// Cleared once this one runs, not before it waits its turn: while
		// a checkpoint runs (a slow syncfs), the writes past the size
		// queue one more, not one goroutine each.
		s.ckptQueued.Store(false)
		if !s.ckptForced.Swap(false) {
			s.writeMu.RLock()
			past := s.pastSize()
			s.writeMu.RUnlock()
			if !past {
				return
			}
		}
		_ = s.checkpointLocked()
	}()
}

// checkpoint takes the log out of service (the next write starts a new
// one), writes every record changed since the last checkpoint to its file
// (or removes the file of a deleted one), makes them durable and removes
// the logs they cover. Writes go on meanwhile. If it fails, the records
// stay dirty and the logs stay, to be replayed.
func (s *Store) checkpoint() error {
	s.ckptMu.Lock()
	defer s.ckptMu.Unlock()
	return s.checkpointLocked()
}

// checkpointLocked is checkpoint with ckptMu held.
func (s *Store) checkpointLocked() error {
	s.writeMu.Lock()
	if s.closed {
		s.writeMu.Unlock()
		return ErrClosed
	}
	old := s.log
	s.log = nil
	done := make(chan struct{})
	s.ckptRunning = done
	defer func() {
		s.writeMu.Lock()
		s.ckptRunning = nil
		s.writeMu.Unlock()
		close(done)
	}()
	// Every log before this number holds only changes that are in memory
	// now (a write updates memory before it lets go of writeMu), so in the
	// snapshot.
	covered := s.nextSeq
	s.mu.Lock()
	snap := make(map[recordKey]*Record, len(s.dirty))
	for k := range s.dirty {
		snap[k] = s.records[k] // nil when deleted; records are never changed in place
	}
	s.dirty = map[recordKey]struct{}{}
	s.mu.Unlock()
	s.writeMu.Unlock()

	if len(snap) > 0 {
		if err := s.writeRecords(snap); err != nil {
			s.mu.Lock()
			for k := range snap {
				s.dirty[k] = struct{}{}
			}
			s.mu.Unlock()
			s.keepInService(old)
			return err
		}
	}
	if old != nil {
		old.close()
	}
	return s.removeLogsBefore(covered)
}

// keepInService puts back the log a failed checkpoint took out of service,
// unless a write has started a new one meanwhile or the log takes no more
// writes: the log keeps the space it grew ahead of its frames, where a new
// log needs a header, two syncs and a chunk of its own, which a full disk
// (the usual reason a checkpoint fails) refuses. A later checkpoint covers
// the frames written to it since.
func (s *Store) keepInService(old *wal) {
	if old == nil {
		return
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.log == nil && !s.closed && old.usable() {
		s.log = old
		// The next attempt by size comes after as much log again (or
		// when the writes pause: the idle checkpoint).
		s.checkpointAt.Store(old.Size() + walCheckpointSize)
		return
	}
	old.close()
}

// writeRecords writes each record of snap to its file (nil: removes it),
// then makes all of it durable with one sync of the file system instead
// of two fsyncs per file.
func (s *Store) writeRecords(snap map[recordKey]*Record) error {
	dir := filepath.Join(s.dir, recordsDir)
	// Opened before the files are written: syncfs reports the write-back
	// errors that happened since its descriptor was opened (Linux 5.8 and
	// later), so one opened after them could miss them.
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("state: %w", err)
	}
	defer d.Close()
	dfd := int(d.Fd())
	var buf bytes.Buffer
	for k, r := range snap {
		name := fileName(k.policy, k.name)
		if r == nil {
			if err := retryEINTR(func() error { return unix.Unlinkat(dfd, name, 0) }); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("state: delete %s/%s: %w", k.policy, k.name, &fs.PathError{Op: "remove", Path: filepath.Join(dir, name), Err: err})
			}
			continue
		}
		b, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("state: encode %s/%s: %w", k.policy, k.name, err)
		}
		buf.Reset()
		if err := json.Indent(&buf, b, "", "  "); err != nil {
			return fmt.Errorf("state: encode %s/%s: %w", k.policy, k.name, err)
		}
		buf.WriteByte('\n')
		if err := writeRename(dfd, dir, name, buf.Bytes()); err != nil {
			return fmt.Errorf("state: write %s/%s: %w", k.policy, k.name, err)
		}
	}
	if err := s.syncFS(d); err != nil {
		return fmt.Errorf("state: sync %s: %w", dir, err)
	}
	return nil
}

// removeLogsBefore removes the log files older than seq: their content is
// in the record files. A removal lost in a crash is harmless: replaying a
// covered log gives the records the files already hold, and the newer log
// is replayed after it.
func (s *Store) removeLogsBefore(seq uint64) error {
	logs, err := listWALs(s.dir)
	if err != nil {
		return err
	}
	for _, l := range logs {
		if l.seq < seq {
			if err := os.Remove(l.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("state log: %w", err)
			}
		}
	}
	return nil
}

// writeRename writes data to a temp file in the directory dfd and renames
// it to name, without syncing: writeRecords syncs them all at once, before
// the logs that hold the same records are removed. It works on the
// directory's descriptor with plain system calls: a checkpoint writes one
// file per changed record (10,000 after a forced pass over as many names),
// and an *os.File costs four fcntl and a refused epoll_ctl per file, a
// path four more lookups. dir is the directory's path, for the errors.
func writeRename(dfd int, dir, name string, data []byte) error {
	var tmp string
	var fd int
	for try := 0; ; try++ {
		tmp = "." + name + ".tmp-" + strconv.FormatUint(rand.Uint64(), 36)
		var err error
		fd, err = unix.Openat(dfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err == nil {
			break
		}
		if err == unix.EINTR || (err == unix.EEXIST && try < 100) {
			continue
		}
		return &fs.PathError{Op: "open", Path: filepath.Join(dir, tmp), Err: err}
	}
	var err error
	werr := writeAll(fd, data)
	if cerr := unix.Close(fd); werr == nil {
		werr = cerr
	}
	if werr != nil {
		err = &fs.PathError{Op: "write", Path: filepath.Join(dir, tmp), Err: werr}
	} else if rerr := retryEINTR(func() error { return unix.Renameat(dfd, tmp, dfd, name) }); rerr != nil {
		err = &os.LinkError{Op: "rename", Old: filepath.Join(dir, tmp), New: filepath.Join(dir, name), Err: rerr}
	}
	if err != nil {
		_ = unix.Unlinkat(dfd, tmp, 0)
	}
	return err
}

// retryEINTR calls fn again while a signal interrupts it.
func retryEINTR(fn func() error) error {
	_, err := ignoringEINTR(func() (int, error) { return 0, fn() })
	return err
}

// writeAll writes data to fd, through short writes and interruptions.
func writeAll(fd int, data []byte) error {
	for len(data) > 0 {
		n, err := unix.Write(fd, data)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return io.ErrShortWrite // no progress: not a loop for ever
		}
		data = data[n:]
	}
	return nil
}

// fileName derives a safe, fixed-length file name from policy and key name,
// which may hold any character.
func fileName(policy, name string) string {
	sum := sha256.Sum256([]byte(policy + "\x00" + name))
	return hex.EncodeToString(sum[:16]) + ".json"
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Journal is the durable memory the rotation engine works with: one record
// per (policy, key name), each Put made durable before it returns. Store is
// the directory-backed implementation; tests use in-memory ones that
// inject crashes.
type Journal interface {
	Get(policy, name string) (Record, bool)
	Has(policy, name string) bool
	List(policy string) []Record
	Put(r Record) error
	Delete(policy, name string) error
}

var _ Journal = (*Store)(nil)

// Versioned is a journal that counts the changes to its records: while
// Version returns the same number, what Get, List and Each show has not
// changed, so what was worked out from them still holds.
type Versioned interface {
	Version() uint64
}

var _ Versioned = (*Store)(nil)
