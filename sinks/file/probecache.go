package file

import (
	"sync"
	"time"
)

// A probe creates and removes a temp file in the target's directory, so
// that a directory no write could succeed in costs no key. That part
// depends on the directory, not on the name: within one pass, the names
// of a sink usually share one directory, and creating and removing a file
// for each of them was about a tenth of a rotation's CPU. A directory
// whose temp-file probe succeeded is trusted for probeReuse, as long as it
// is the same directory (device and inode) with the same mode and owner
// on a file system still mounted read-write. Each probe still opens the
// directory (with every check openDir makes) and checks its own target.
//
// What a reused probe can miss (a full disk, a change of ACL or attribute
// that leaves the mode alone) fails the write instead; a probe never
// promised a write would succeed, and a failed delivery is a failed
// rotation like any other: the old key stays in place.

// probeReuse is how long a successful temp-file probe stands. A variable
// for tests.
var probeReuse = 10 * time.Second

// probedDir is what must not have changed for a probe to be reused.
type probedDir struct {
	dev, ino       uint64
	mode, uid, gid uint32
}

// probeCache remembers the directories whose temp-file probe succeeded.
type probeCache struct {
	mu   sync.Mutex
	at   map[probedDir]time.Time
	made int // temp-file probes run; read by tests
}

// fresh reports whether the temp-file probe of dir can be skipped.
func (c *probeCache) fresh(dir probedDir, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	at, ok := c.at[dir]
	return ok && now.Sub(at) < probeReuse && !now.Before(at)
}

// ran counts a temp-file probe; ok: it succeeded, and dir (when known) is
// remembered.
func (c *probeCache) ran(dir probedDir, known, ok bool, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.made++
	if !known {
		return
	}
	if !ok {
		delete(c.at, dir)
		return
	}
	if c.at == nil {
		c.at = map[probedDir]time.Time{}
	}
	for d, at := range c.at { // few directories: keep the map to the live ones
		if now.Sub(at) >= probeReuse {
			delete(c.at, d)
		}
	}
	c.at[dir] = now
}

func (c *probeCache) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.made
}
