package memtrim

import (
	"encoding/binary"
	"os"
	"os/exec"
	"testing"
)

// A -buildmode=pie (or cgo, externally linked) binary has a RELRO mapping:
// written by the dynamic linker (relocations), then mprotect'ed read-only.
// Its relocated pages are private anonymous copies. smaps counts a copy
// that has been swapped out under "Swap:", not under "Anonymous:", and
// madvise(MADV_DONTNEED) frees the swap entry: the next access maps the
// unrelocated file page, and every pointer in it is wrong. The record
// below is the one `go test -buildmode=pie` shows for this package's test
// binary, with its 268 kB of copies swapped out (as after hours idle on a
// host with swap).
const smapsPIESwappedRELRO = `55d1c85b2000-55d1c86f6000 r-xp 00000000 fe:00 11274540                   /usr/bin/rotatord
Size:               1296 kB
Rss:                1144 kB
Anonymous:             0 kB
Swap:                  0 kB
VmFlags: rd ex mr mw me 
55d1c886e000-55d1c88ba000 r--p 002bc000 fe:00 11274540                   /usr/bin/rotatord
Size:                304 kB
Rss:                  36 kB
Anonymous:             0 kB
Swap:                268 kB
SwapPss:             268 kB
VmFlags: rd mr mw me ac 
55d1c88ba000-55d1c88de000 rw-p 00308000 fe:00 11274540                   /usr/bin/rotatord
Size:                144 kB
Anonymous:            64 kB
VmFlags: rd wr mr mw me ac 
`

func TestExecutableMappingsSkipsSwappedOutCopies(t *testing.T) {
	for _, m := range executableMappings([]byte(smapsPIESwappedRELRO), "/usr/bin/rotatord") {
		if m.start <= 0x55d1c886e000 && 0x55d1c886e000 < m.end {
			t.Fatalf("the RELRO mapping with 268 kB of swapped-out private copies is selected for MADV_DONTNEED: %x", m)
		}
	}
}

// A deleted executable, at a path with a space: readlink and smaps both
// say " (deleted)", and the mapping is still found (no false negative).
func TestExecutableMappingsDeletedPathWithSpace(t *testing.T) {
	const s = `00400000-00543000 r-xp 00000000 fe:00 1 /opt/my tools/rotatord (deleted)
Anonymous:             0 kB
Swap:                  0 kB
VmFlags: rd ex mr mw me
00543000-006ba000 rw-p 00143000 fe:00 1 /opt/my tools/rotatord (deleted)
Anonymous:             4 kB
Swap:                  0 kB
VmFlags: rd wr mr mw me ac
`
	got := executableMappings([]byte(s), "/opt/my tools/rotatord (deleted)")
	if len(got) != 1 || got[0] != (mapping{0x400000, 0x543000}) {
		t.Fatalf("got %x", got)
	}
}

// The README says that after Trim "an idle daemon's resident set (RSS, and
// a container's working set) is what it really uses". A container's
// working set (cAdvisor, the kubelet's eviction, `kubectl top`) is the
// cgroup's usage minus its inactive file pages. MADV_DONTNEED only unmaps:
// the executable's page-cache pages stay charged to the cgroup and on the
// *active* file list (zapping a young pte even marks the page accessed),
// so the working set does not fall. Needs root (/proc/kpageflags and the
// PFNs in /proc/self/pagemap).
func TestTrimLowersContainerWorkingSet(t *testing.T) {
	_, ms := selfMappings(t)
	pm, err := os.Open("/proc/self/pagemap")
	if err != nil {
		t.Skip(err)
	}
	defer pm.Close()
	kf, err := os.Open("/proc/kpageflags")
	if err != nil {
		t.Skip(err)
	}
	defer kf.Close()
	buf := make([]byte, 8)
	var pfns []uint64
	for _, m := range ms {
		for a := m.start; a < m.end; a += 4096 {
			if _, err := pm.ReadAt(buf, int64(a/4096*8)); err != nil {
				t.Skip(err)
			}
			e := binary.LittleEndian.Uint64(buf)
			if pfn := e & (1<<55 - 1); e&(1<<63) != 0 && pfn != 0 {
				pfns = append(pfns, pfn)
			}
		}
	}
	if len(pfns) == 0 {
		t.Skip("no PFNs visible (not root?)")
	}
	Trim()
	const kpfActive = 6
	active := 0
	for _, p := range pfns {
		if _, err := kf.ReadAt(buf, int64(p*8)); err != nil {
			t.Skip(err)
		}
		if binary.LittleEndian.Uint64(buf)&(1<<kpfActive) != 0 {
			active++
		}
	}
	if active > len(pfns)/2 {
		t.Errorf("after Trim, %d of the %d executable pages that were resident are still on the active file LRU: "+
			"still in a memory cgroup's usage and working set (usage - inactive_file), contrary to the README", active, len(pfns))
	}
}

// An executable deleted while running, at a path with a space: Trim still
// finds its mappings and the program keeps working (re-executes this test
// binary from such a path, which removes itself first).
func TestTrimDeletedExecutableWithSpace(t *testing.T) {
	if os.Getenv("MEMTRIM_REVIEW16C_CHILD") == "1" {
		exe, _ := os.Executable()
		if err := os.Remove(exe); err != nil {
			t.Fatal(err)
		}
		link, _ := os.Readlink("/proc/self/exe")
		smaps, _ := os.ReadFile("/proc/self/smaps")
		if len(executableMappings(smaps, link)) == 0 {
			t.Fatalf("no mapping of %q found", link)
		}
		before := rssFileKB(t)
		Trim()
		if after := rssFileKB(t); after >= before {
			t.Fatalf("RssFile %d -> %d kB", before, after)
		}
		if table[3] != "three" {
			t.Fatal("rodata")
		}
		return
	}
	self, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	b, err := os.ReadFile(self)
	if err != nil {
		t.Skip(err)
	}
	dir := t.TempDir() + "/with space"
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := dir + "/memtrim test"
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestTrimDeletedExecutableWithSpace$", "-test.v")
	cmd.Env = append(os.Environ(), "MEMTRIM_REVIEW16C_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
}
