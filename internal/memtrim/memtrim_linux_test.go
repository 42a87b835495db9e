package memtrim

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

const smapsSample = `00400000-01cce000 r-xp 00000000 08:01 123 /usr/bin/rotatord
Size:              25400 kB
Rss:               16248 kB
Anonymous:             0 kB
Swap:                  0 kB
VmFlags: rd ex mr mw me
01cce000-038ba000 r--p 018ce000 08:01 123 /usr/bin/rotatord
Size:              29616 kB
Anonymous:             0 kB
Swap:                  0 kB
VmFlags: rd mr mw me
038ba000-03961000 rw-p 034ba000 08:01 123 /usr/bin/rotatord
Size:                668 kB
Anonymous:           140 kB
Swap:                  0 kB
VmFlags: rd wr mr mw me ac
03961000-03962000 r--p 03561000 08:01 123 /usr/bin/rotatord
Anonymous:             4 kB
Swap:                  0 kB
VmFlags: rd mr mw me
03962000-03963000 r--p 03562000 08:01 123 /usr/bin/rotatord
Anonymous:             0 kB
Swap:                  0 kB
VmFlags: rd mr mw me ac
03963000-03964000 r--p 03563000 08:01 123 /usr/bin/rotatord
Anonymous:             0 kB
VmFlags: rd mr mw me
03970000-03971000 r--s 03561000 08:01 123 /usr/bin/rotatord
Anonymous:             0 kB
Swap:                  0 kB
7f8b93228000-7f8b9337e000 r-xp 00028000 08:01 456 /usr/lib/x86_64-linux-gnu/libc.so.6
Anonymous:             0 kB
Swap:                  0 kB
7f8b9341e000-7f8b93428000 r--p 00000000 00:00 0 /usr/bin/rotatord (deleted)
Anonymous:             0 kB
Swap:                  0 kB
7ffd4ead0000-7ffd4eaf1000 rw-p 00000000 00:00 0 [stack]
Anonymous:            12 kB
Swap:                  0 kB
`

// Only the executable's private read-only mappings without a copied page
// are dropped: never its writable data, a shared mapping, another file, a
// mapping with an anonymous (copied-on-write) page, one once writable
// (VmFlags "ac": RELRO), or one whose smaps record lacks a line that
// proves it safe (no Swap line).
func TestExecutableMappings(t *testing.T) {
	got := executableMappings([]byte(smapsSample), "/usr/bin/rotatord")
	want := []mapping{{0x400000, 0x1cce000}, {0x1cce000, 0x38ba000}}
	if len(got) != len(want) {
		t.Fatalf("got %x, want %x", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %x, want %x", got, want)
		}
	}
	if got := executableMappings([]byte(smapsSample), "/usr/bin/other"); len(got) != 0 {
		t.Fatalf("another path: got %x", got)
	}
}

// Trim leaves the program working: code, read-only data and written
// globals are all there after it.
func TestTrimKeepsProgramIntact(t *testing.T) {
	selfMappings(t)
	written = []string{"kept"}
	counter = 41
	Trim()
	counter++
	if counter != 42 || len(written) != 1 || written[0] != "kept" {
		t.Fatalf("globals changed by Trim: %d %v", counter, written)
	}
	if s := table[3]; s != "three" {
		t.Fatalf("read-only table after Trim: %q", s)
	}
}

var (
	written []string
	counter int
	table   = [...]string{"zero", "one", "two", "three"}
)

// TestTrimReleasesExecutablePages: the executable's file pages leave the
// resident set (RssFile in /proc/self/status), which is the point.
func TestTrimReleasesExecutablePages(t *testing.T) {
	before := rssFileKB(t)
	Trim()
	after := rssFileKB(t)
	if after >= before {
		t.Errorf("RssFile %d kB after Trim, %d kB before: nothing released", after, before)
	}
}

func rssFileKB(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "RssFile:" {
			n, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Skip("no RssFile in /proc/self/status")
	return 0
}

// TrimBeforeWork drops the executable's pages from the page cache and
// marks its mappings MADV_RANDOM, so that a later fault maps the page it
// needs and not 16 cached neighbours (or 32 more read around it):
// without both, a forced pass mapped 18 MB of the executable back instead
// of 10. Trim, called between passes, and TrimBeforeWork(false) (plan)
// leave the cache and the mappings alone.
func TestTrimBeforeWorkDropsExecutableFromPageCache(t *testing.T) {
	f, err := os.Open("/proc/self/exe")
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	var fs unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &fs); err != nil {
		t.Skip(err)
	}
	if fs.Type == unix.TMPFS_MAGIC || fs.Type == unix.RAMFS_MAGIC {
		t.Skip("the test binary is in memory (tmpfs): its pages cannot leave the page cache")
	}
	// The whole file in the page cache, and written: a test binary linked
	// a moment ago has dirty pages, which no advice drops until they are
	// written (an installed executable's pages are clean).
	if _, err := io.Copy(io.Discard, f); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Skip(err)
	}
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	// For a file the caller neither owns nor may write, mincore reports
	// every page cached (Linux 5.0): no measure.
	if st, ok := fi.Sys().(*syscall.Stat_t); !ok || (os.Geteuid() != 0 && int(st.Uid) != os.Geteuid()) {
		t.Skip("mincore reports this file's cache only to root or its owner")
	}
	// Mapped but never touched: mincore reports the page cache, and the
	// mapping holds no page that would keep one cached.
	m, err := unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Skip(err)
	}
	defer unix.Munmap(m)
	pages := (len(m) + os.Getpagesize() - 1) / os.Getpagesize()
	before := cachedPages(t, m)
	if before < pages*9/10 {
		t.Skipf("mincore reports %d of %d pages cached right after reading the file: it does not report this file's cache", before, pages)
	}
	_, ms := selfMappings(t)
	// Trim, and TrimBeforeWork without uncache (plan), keep the cache
	// and leave the mappings as they were (an earlier test of this
	// process may have marked them: start from MADV_NORMAL).
	for _, mp := range ms {
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, mp.start, mp.end-mp.start, unix.MADV_NORMAL); errno != 0 {
			t.Fatal(errno)
		}
	}
	Trim()
	TrimBeforeWork(false)
	if kept := cachedPages(t, m); kept < before*9/10 {
		t.Errorf("Trim dropped the page cache: %d of %d pages cached after it, %d before", kept, pages, before)
	}
	smaps, _ := selfMappings(t)
	for _, mp := range ms {
		if randomRead(t, smaps, mp) {
			t.Errorf("mapping %x-%x marked MADV_RANDOM by Trim", mp.start, mp.end)
		}
	}
	TrimBeforeWork(true)
	after := cachedPages(t, m)
	// Pages the program maps again right away stay, and with them the
	// large folio each belongs to: in a test binary of a few MB, where
	// the test's own code is much of the file, about 40% goes (none
	// without the advice); in rotatord's 80 MB, most of it.
	if after > before*7/8 {
		t.Errorf("%d of %d pages of the executable still cached after TrimBeforeWork (%d before)", after, pages, before)
	}

	smaps, _ = selfMappings(t)
	for _, mp := range ms {
		if !randomRead(t, smaps, mp) {
			t.Errorf("mapping %x-%x not marked MADV_RANDOM (VmFlags rr) after TrimBeforeWork", mp.start, mp.end)
		}
	}
}

// selfMappings returns /proc/self/smaps and the executable's mappings
// that dropExecutablePages acts on; without them the test is skipped or
// fails.
func selfMappings(t *testing.T) ([]byte, []mapping) {
	t.Helper()
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		t.Skip(err)
	}
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Skip(err)
	}
	ms := executableMappings(smaps, exe)
	if len(ms) == 0 {
		t.Fatalf("no read-only mapping of %s found in /proc/self/smaps", exe)
	}
	return smaps, ms
}

func cachedPages(t *testing.T, m []byte) int {
	t.Helper()
	vec := make([]byte, (len(m)+os.Getpagesize()-1)/os.Getpagesize())
	_, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0])))
	if errno != 0 {
		t.Skip(errno)
	}
	n := 0
	for _, v := range vec {
		n += int(v & 1)
	}
	return n
}

// randomRead says whether smaps shows VmFlags "rr" for mapping m.
func randomRead(t *testing.T, smaps []byte, m mapping) bool {
	t.Helper()
	header := fmt.Sprintf("%08x-%08x ", m.start, m.end)
	in := false
	for _, line := range strings.Split(string(smaps), "\n") {
		if strings.HasPrefix(line, header) {
			in = true
			continue
		}
		if in && strings.HasPrefix(line, "VmFlags:") {
			return slices.Contains(strings.Fields(line)[1:], "rr")
		}
	}
	t.Fatalf("mapping %s not found in smaps", header)
	return false
}
