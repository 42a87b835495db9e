//go:build linux

package file

import (
	"strings"
	"testing"
	"time"
)

// vfat and exfat report f_namelen in bytes of the widest NLS charset:
// 255*NLS_MAX_CHARSET_SIZE = 1530 (fs/fat/inode.c fat_statfs,
// fs/exfat/super.c exfat_statfs), while a name there is at most 255 UTF-16
// units: 255 bytes for the portable characters. A 245-byte target base
// fits; a 267-byte temp file name would not (ENAMETOOLONG; tempStem now
// shortens it, and such a base is still probed in full). sharedProbeName,
// given Namelen as is, lets that name through on another name's probe:
// finding (1) again, on FAT/exFAT. Linux has no name over NAME_MAX (255),
// so a Namelen above it must not be trusted as a byte limit.
func TestSharedProbeNameVfatNamelen(t *testing.T) {
	base := strings.Repeat("a", 240) + ".cred" // 245 bytes: a valid vfat name
	if len(tempName(""))+len(base) <= 255 {
		t.Fatal("test premise: the base and a temp file name's 22 bytes should exceed 255")
	}
	for _, nameMax := range []int{1530 /* vfat, exfat */} {
		if sharedProbeName(base, nameMax) {
			t.Errorf("sharedProbeName(%d-byte base, Namelen %d) = true; a %d-byte temp file name cannot be created on vfat/exfat (255 UTF-16 units)",
				len(base), nameMax, len(tempName(""))+len(base))
		}
	}
}

// The mirror of finding (3), which the start-time order introduced: probe
// A starts at t0, probe B (another name, same directory) at t1 > t0. B's
// temp file is created and removed; then the directory stops taking new
// files (immutable, quota, ENOSPC on a directory block: mode and owner
// unchanged); A's create fails. B records success at t1, A's failure at
// t0 is dropped since B "started later", so the directory stays trusted
// until t1+probeReuse although the last thing seen there was a failure.
// Before 4d8a2e2 a failure always stood (delete). A failure should be
// stamped with when it was seen (the end of its probe), a success with its
// start.
func TestEarlierStartedFailureSeenLastIsDropped(t *testing.T) {
	var c probeCache
	pd := probedDir{dev: 1, ino: 2}
	t0 := time.Now()
	t1 := t0.Add(time.Millisecond)
	c.ran(pd, true, true, t1, t1)                        // B: started later, succeeded first
	c.ran(pd, true, false, t0, t1.Add(time.Millisecond)) // A: started earlier, failed after B's success
	if c.fresh(pd, t1.Add(2*time.Millisecond)) {
		t.Error("the directory is trusted although its latest observed probe failed")
	}
}
