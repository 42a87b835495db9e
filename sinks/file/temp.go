package file

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"
)

// A temp file of target <dir>/<base> is <dir>/.<stem>.tmp-<suffix>, the
// stem base itself unless too long (tempStem), the suffix lowercase hex
// digits: 16 random ones from this version, decimal
// ones from os.CreateTemp in earlier versions. As the suffix has no "." nor
// "-", a temp file name belongs to exactly one target (see tempTarget).
const tempSep = ".tmp-"

// errNeedNamed makes a write fall back to a named temp file: the file
// system or kernel lacks O_TMPFILE, or the unnamed file cannot be linked.
var errNeedNamed = errors.New("unnamed temp file not available")

// tempName returns a new temp file name for the target base, in the same
// directory.
func tempName(base string) string {
	var b [8]byte
	rand.Read(b[:]) // never fails (it crashes the process instead)
	return "." + tempStem(base) + tempSep + hex.EncodeToString(b[:])
}

// maxTempStem is the longest stem whose temp file names fit NAME_MAX.
const maxTempStem = 255 - len(".") - len(tempSep) - 16

// tempStem returns what a temp file name of the target base carries to
// name its target: base itself, or, when that would make a temp file name
// longer than NAME_MAX (a target of 234 to 255 bytes, such as a long key
// name with "{{.Name}}.json"), a prefix of base, "~" and 16 hex digits of
// its SHA-256: every probe and write of such a target failed with "file
// name too long".
func tempStem(base string) string {
	if len(base) <= maxTempStem {
		return base
	}
	sum := sha256.Sum256([]byte(base))
	h := hex.EncodeToString(sum[:8])
	return base[:maxTempStem-len("~")-len(h)] + "~" + h
}

// tempTarget returns the stem (tempStem) of the target a temp file name
// belongs to, exactly: name "x" does not match the temp files of name
// "x.json.tmp-1", although their names start with x's temp prefix.
func tempTarget(name string) (base string, ok bool) {
	i := strings.LastIndex(name, tempSep)
	if i < 2 || name[0] != '.' {
		return "", false
	}
	suffix := name[i+len(tempSep):]
	if suffix == "" || strings.Trim(suffix, "0123456789abcdef") != "" {
		return "", false
	}
	return name[1:i], true
}

// createNamed creates a new named temp file for the target base in d and
// returns it with its name. O_EXCL|O_NOFOLLOW refuses an existing name and
// a symlink; mode 0600 keeps the secret from others even before the chmod.
func createNamed(d *dir, base string) (*os.File, string, error) {
	for range 10 {
		tmp := tempName(base)
		f, err := d.create(tmp)
		if !errors.Is(err, fs.ErrExist) {
			return f, tmp, err
		}
	}
	return nil, "", fmt.Errorf("%s: cannot find an unused temp file name", d.path)
}

// staleTemps holds the temp files a crashed process may have left next to
// the targets: each directory is listed once per process, at its first
// write there (listing it at every write costs O(N²) for N targets in one
// directory), and each temp file is removed at the next write of its own
// target only (another target's temp file may belong to a live writer).
//
// While a directory is listed, no write of this process is under way in
// it (every write takes its stale temp files first), so what the listing
// finds is another process's. A temp file made by another process later is
// left for the next process that starts.
type staleTemps struct {
	mu   sync.Mutex
	dirs map[string]map[string][]string // directory, target's temp stem: temp file names
}

// stale is per process, not per sink: a reload builds new sinks.
var stale staleTemps

// take returns the names of the stale temp files of the target base in d
// and forgets them. A directory that cannot be listed is listed again at
// the next write.
func (st *staleTemps) take(d *dir, base string) []string {
	st.mu.Lock()
	defer st.mu.Unlock()
	byTarget, ok := st.dirs[d.path]
	if !ok {
		entries, err := d.entries()
		if err != nil {
			return nil
		}
		byTarget = map[string][]string{}
		for _, e := range entries {
			if t, ok := tempTarget(e.Name()); ok && e.Type().IsRegular() {
				byTarget[t] = append(byTarget[t], e.Name())
			}
		}
		if st.dirs == nil {
			st.dirs = map[string]map[string][]string{}
		}
		st.dirs[d.path] = byTarget
	}
	names := byTarget[tempStem(base)]
	delete(byTarget, tempStem(base))
	return names
}

// keep records a temp file of the target base in d this process failed to
// remove, so that the next write of the target tries again. A directory
// not listed yet will find it when it is.
func (st *staleTemps) keep(d *dir, base, tmp string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if byTarget, ok := st.dirs[d.path]; ok {
		byTarget[tempStem(base)] = append(byTarget[tempStem(base)], tmp)
	}
}

// removeStaleTemps deletes the temp files a crashed write left next to the
// target base in d: they hold a secret. It runs under the target's lock. A
// file that cannot be removed is tried again at the next write.
func (s *Sink) removeStaleTemps(d *dir, base string) {
	for _, tmp := range stale.take(d, base) {
		removeTemp(d, base, tmp)
	}
}

// removeTemp removes the temp file tmp of the target base in d, or keeps
// it for the next write of the target to try again.
func removeTemp(d *dir, base, tmp string) {
	if err := d.remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		stale.keep(d, base, tmp)
	}
}
