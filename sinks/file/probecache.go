package file

import (
	"sync"
	"time"
)

// A probe creates and removes a temp file in the target's directory, so
// that a directory no write could succeed in costs no key. For most names
// that part depends on the directory, not on the name: within one pass,
// the names of a sink usually share one directory, and creating and
// removing a file for each of them was about a tenth of a rotation's CPU.
// A directory whose temp-file probe succeeded is trusted for probeReuse,
// as long as it is the same directory (device and inode) with the same
// mode and owner on a file system still mounted read-write. Each probe
// still opens the directory (with every check openDir makes) and checks
// its own target.
//
// Only names the temp file cannot fail for where another name's did are
// let through on a shared probe (sharedProbeName): made of the POSIX
// portable file name characters, which every file system takes, with a
// temp file name within the file system's limit on a name's length.
// Others are probed in full.
//
// What a reused probe can miss (a full disk, an ACL or an attribute that
// leaves the mode alone) fails the write instead; a probe never promised
// a write would succeed, and a failed delivery is a failed rotation like
// any other: the old key stays in place.

// probeReuse is how long a successful temp-file probe stands. A variable
// for tests.
var probeReuse = 10 * time.Second

// probedDir is what must not have changed for a probe to be reused.
type probedDir struct {
	dev, ino       uint64
	mode, uid, gid uint32
}

// probeResult is the last temp-file probe of a directory: when it started
// and whether it succeeded.
type probeResult struct {
	at time.Time
	ok bool
}

// probeCache remembers the latest temp-file probe of each directory.
type probeCache struct {
	mu    sync.Mutex
	last  map[probedDir]probeResult
	swept time.Time
	made  int // temp-file probes run; read by tests
}

// fresh reports whether the temp-file probe of dir can be skipped.
func (c *probeCache) fresh(dir probedDir, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.last[dir]
	return ok && r.ok && now.Sub(r.at) < probeReuse && !now.Before(r.at)
}

// ran records a temp-file probe of dir (known: dir could be told) that
// started at start and ended at end. A failure is stamped when it was
// seen, and always stands; a success is stamped when its probe started,
// and never replaces what was seen after that: the directory may have
// changed in between.
func (c *probeCache) ran(dir probedDir, known, ok bool, start, end time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.made++
	if !known {
		return
	}
	if c.last == nil {
		c.last = map[probedDir]probeResult{}
	}
	switch r, seen := c.last[dir]; {
	case !ok:
		c.last[dir] = probeResult{at: end, ok: false}
	case !seen || !r.at.After(start):
		c.last[dir] = probeResult{at: start, ok: true}
	}
	// Forget what has expired, at most once per probeReuse: with a
	// directory per name, the map holds the directories of one period.
	if end.Sub(c.swept) >= probeReuse {
		c.swept = end
		for d, r := range c.last {
			if end.Sub(r.at) >= probeReuse {
				delete(c.last, d)
			}
		}
	}
}

func (c *probeCache) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.made
}

// sharedProbeName reports whether base may rely on another name's
// temp-file probe in a directory whose file system takes names of up to
// nameMax bytes.
func sharedProbeName(base string, nameMax int) bool {
	// No Linux name is longer than NAME_MAX (255 bytes), whatever the file
	// system says: vfat and exFAT report 1530 (255 characters of up to 6
	// bytes), while they take 255 of the portable ones.
	nameMax = min(nameMax, 255)
	if len(tempName(""))+len(base) > nameMax {
		return false
	}
	for i := range len(base) {
		c := base[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}
