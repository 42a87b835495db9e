package state

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
)

// Store keeps one small JSON file per record, so a step costs one file
// write whatever the number of managed names. Writes are atomic (temp file,
// fsync, rename, fsync of the directory).
type Store struct {
	dir      string
	lock     *os.File
	readOnly bool

	mu      sync.Mutex
	records map[recordKey]*Record
	// syncDir is a field so tests can count directory syncs.
	syncDir func(string) error
}

type recordKey struct{ policy, name string }

const (
	recordsDir = "records"
	lockFile   = "lock"
)

// ErrLocked means another rotatord holds the state directory.
var ErrLocked = errors.New("state directory is in use by another rotatord process")

// ErrReadOnly is what writes to a store opened with OpenReadOnly return.
var ErrReadOnly = errors.New("state store opened read-only")

// OpenReadOnly loads the records without taking the lock, so `plan` can
// look while the daemon runs. A missing directory is an empty store. The
// view may be a moment old; every write fails with ErrReadOnly.
func OpenReadOnly(dir string) (*Store, error) {
	s := &Store{dir: dir, readOnly: true, records: map[recordKey]*Record{}, syncDir: syncDir}
	if _, err := os.Stat(filepath.Join(dir, recordsDir)); errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err := s.load(); err != nil {
		return nil, err
	}
	return s, nil
}

// Open opens (creating it 0700 if needed) the state directory, takes an
// exclusive lock on it and loads every record.
func Open(dir string) (*Store, error) {
	if !filepath.IsAbs(dir) {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return nil, fmt.Errorf("state dir %q: %w", dir, err)
		}
		dir = abs
	}
	if err := os.MkdirAll(filepath.Join(dir, recordsDir), 0o700); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
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
	s := &Store{dir: dir, lock: lock, records: map[recordKey]*Record{}, syncDir: syncDir}
	if err := s.load(); err != nil {
		s.Close()
		return nil, err
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

func (s *Store) load() error {
	dir := filepath.Join(s.dir, recordsDir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
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
		if !strings.HasSuffix(name, ".json") {
			continue
		}
		path := filepath.Join(dir, name)
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("state record %s: %w", path, err)
		}
		var r Record
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("state record %s: %w", path, err)
		}
		if r.Policy == "" || r.Name == "" || fileName(r.Policy, r.Name) != name {
			return fmt.Errorf("state record %s: policy or name does not match the file", path)
		}
		s.records[recordKey{r.Policy, r.Name}] = &r
	}
	return nil
}

// Close releases the lock.
func (s *Store) Close() error {
	if s.lock == nil {
		return nil
	}
	err := s.lock.Close() // closing the descriptor drops the flock
	s.lock = nil
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

// Put makes r durable, then updates the in-memory view. When Put returns
// an error the file on disk holds the previous version or the new one,
// whole (the rename may have happened before a failed directory sync), and
// the in-memory view keeps the previous one: the caller treats the step as
// not done, and recovery copes with either.
func (s *Store) Put(r Record) error {
	if s.readOnly {
		return ErrReadOnly
	}
	if r.Policy == "" || r.Name == "" {
		return errors.New("state: record without policy or name")
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("state: encode %s/%s: %w", r.Policy, r.Name, err)
	}
	if err := s.writeFile(fileName(r.Policy, r.Name), append(b, '\n')); err != nil {
		return fmt.Errorf("state: write %s/%s: %w", r.Policy, r.Name, err)
	}
	s.mu.Lock()
	c := r.Clone()
	s.records[recordKey{r.Policy, r.Name}] = &c
	s.mu.Unlock()
	return nil
}

// Delete forgets a record.
func (s *Store) Delete(policy, name string) error {
	if s.readOnly {
		return ErrReadOnly
	}
	path := filepath.Join(s.dir, recordsDir, fileName(policy, name))
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("state: delete %s/%s: %w", policy, name, err)
	}
	if err := s.syncDir(filepath.Join(s.dir, recordsDir)); err != nil {
		return fmt.Errorf("state: delete %s/%s: %w", policy, name, err)
	}
	s.mu.Lock()
	delete(s.records, recordKey{policy, name})
	s.mu.Unlock()
	return nil
}

func (s *Store) writeFile(name string, data []byte) (err error) {
	dir := filepath.Join(s.dir, recordsDir)
	tmp, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), filepath.Join(dir, name)); err != nil {
		return err
	}
	return s.syncDir(dir)
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
