package memtrim

import (
	"os"
	"strconv"
	"strings"
	"testing"
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
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		t.Skip(err)
	}
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Skip(err)
	}
	if len(executableMappings(smaps, exe)) == 0 {
		t.Fatalf("no read-only mapping of %s found in /proc/self/smaps", exe)
	}
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
