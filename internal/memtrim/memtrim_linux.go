package memtrim

import (
	"bufio"
	"bytes"
	"os"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// dropExecutablePages unmaps the resident pages of the executable's
// mappings that are neither writable nor hold a private (copied) page:
// the code and the read-only data. madvise(MADV_DONTNEED) on such a
// private file mapping only removes the page-table entries; the next
// access maps the unchanged page from the page cache again. Writable
// mappings (.data, .bss) are left alone: there the same call would throw
// away what the program wrote.
//
// Unmapping alone gives back less than it seems: a fault maps up to 16
// neighbouring pages that are in the page cache with the one it needs
// (the kernel's fault-around), and reads 32 more around it when it is
// not (read-around). Package initialisation brings 30 MB of the
// executable into the page cache, so a forced pass over 10,000 names,
// which runs code spread thinly over the whole binary, mapped 18 MB of
// it back (bench/README.md). With uncache (TrimBeforeWork, once, as the
// program starts its work), the mappings are also marked MADV_RANDOM
// (no read-around, for the life of the process) and the executable's
// pages that no process maps are dropped from the page cache
// (POSIX_FADV_DONTNEED): what the program touches afterwards is read back
// one page at a time, and a later fault finds only those pages cached to
// map around it. The pass then holds 10–14 MB of file pages (the binary
// and the C library). The costs:
//   - one read from disk per page used again, about 520 for `once`'s
//     no-op pass at 10,000 names;
//   - the cache is the file's, shared by every process that runs it:
//     another process keeps the pages it maps, but a daemon idle after
//     its trim maps few, and its next pass reads its code from disk;
//   - since Linux 6.3, reclaim ignores whether the pages of a
//     MADV_RANDOM mapping were used recently: under memory pressure the
//     code the daemon runs leaves as readily as code it never runs, and
//     comes back a page at a time.
//
// The trims between passes (Trim) do not drop the cache: each would make
// the next pass read its code from disk again, and a daemon whose binary
// sits on a network file system depend on it at every pass.
func dropExecutablePages(uncache bool) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return
	}
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return
	}
	ms := executableMappings(smaps, exe)
	for _, m := range ms {
		// MADV_COLD first (Linux 5.4; refused harmlessly before): the
		// pages move to the inactive list, so a container's working set
		// (usage minus inactive file pages) drops too, not only the RSS.
		_, _, _ = unix.Syscall(unix.SYS_MADVISE, m.start, m.end-m.start, unix.MADV_COLD)
		_, _, _ = unix.Syscall(unix.SYS_MADVISE, m.start, m.end-m.start, unix.MADV_DONTNEED)
		if uncache {
			_, _, _ = unix.Syscall(unix.SYS_MADVISE, m.start, m.end-m.start, unix.MADV_RANDOM)
		}
	}
	if !uncache || len(ms) == 0 {
		return
	}
	// /proc/self/exe opens the file the process runs, even one replaced
	// or removed since it started.
	if f, err := os.Open("/proc/self/exe"); err == nil {
		_ = unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
		_ = f.Close()
	}
}

type mapping struct{ start, end uintptr }

// executableMappings parses /proc/self/smaps and returns the mappings of
// path that are read-only (no 'w'), private, and hold no copied page: their
// Anonymous and Swap lines both say 0 (a copy swapped out counts under
// Swap only), and their VmFlags lack "ac" (accountable: the mapping was
// once writable, as the RELRO segment of a PIE or cgo binary, whose
// relocated copies must never be dropped). A mapping that lacks any of
// those lines is skipped: unknown is unsafe.
func executableMappings(smaps []byte, path string) []mapping {
	var (
		out                []mapping
		cur                mapping
		candidate          bool
		noAnon, noSwap, ro bool
	)
	flush := func() {
		if candidate && noAnon && noSwap && ro {
			out = append(out, cur)
		}
		candidate, noAnon, noSwap, ro = false, false, false, false
	}
	sc := bufio.NewScanner(bytes.NewReader(smaps))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if !strings.HasSuffix(f[0], ":") { // a mapping's header line
			flush()
			if len(f) < 6 || strings.Join(f[5:], " ") != path || len(f[1]) != 4 || f[1][1] == 'w' || f[1][3] != 'p' {
				continue
			}
			lo, hi, ok := strings.Cut(f[0], "-")
			if !ok {
				continue
			}
			start, err1 := strconv.ParseUint(lo, 16, 64)
			end, err2 := strconv.ParseUint(hi, 16, 64)
			if err1 != nil || err2 != nil || end <= start {
				continue
			}
			cur, candidate = mapping{uintptr(start), uintptr(end)}, true
			continue
		}
		if !candidate {
			continue
		}
		switch f[0] {
		case "Anonymous:":
			noAnon = len(f) >= 2 && f[1] == "0"
		case "Swap:":
			noSwap = len(f) >= 2 && f[1] == "0"
		case "VmFlags:":
			ro = !slices.Contains(f[1:], "ac") && !slices.Contains(f[1:], "wr")
		}
	}
	flush()
	return out
}
