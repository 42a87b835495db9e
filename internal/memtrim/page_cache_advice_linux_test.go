package memtrim

// From the review of 52201d8 (MADV_RANDOM and POSIX_FADV_DONTNEED of the
// executable): a binary replaced or removed while it runs, an exec-only
// binary, and the page-cache test on tmpfs.

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

const helperEnv = "MEMTRIM_REVIEW21_HELPER"

// copyExe copies the running test binary to dir/name with mode.
func copyExe(t *testing.T, dir, name string, mode os.FileMode) string {
	t.Helper()
	src, err := os.Open("/proc/self/exe")
	if err != nil {
		t.Skip(err)
	}
	defer src.Close()
	p := filepath.Join(dir, name)
	dst, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

// The page-cache test skips, not fails, for a binary on tmpfs, where no
// advice can drop a page (a tmpfs /tmp or TMPDIR).
func TestPageCacheTestSkipsOnTmpfs(t *testing.T) {
	var st unix.Statfs_t
	if unix.Statfs("/dev/shm", &st) != nil || st.Type != unix.TMPFS_MAGIC {
		t.Skip("/dev/shm is not tmpfs")
	}
	d, err := os.MkdirTemp("/dev/shm", "memtrim")
	if err != nil {
		t.Skip(err)
	}
	defer os.RemoveAll(d)
	exe := copyExe(t, d, "memtrim.test", 0o755)
	out, err := exec.Command(exe, "-test.run=^TestTrimBeforeWorkDropsExecutableFromPageCache$", "-test.v", "-test.count=1").CombinedOutput()
	if err != nil {
		t.Errorf("the page-cache test with the binary on tmpfs: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--- SKIP") {
		t.Errorf("the page-cache test did not skip on tmpfs:\n%s", out)
	}
}

// A binary replaced (renamed over, as package managers and `install` do)
// or removed while it runs keeps working across the trims: the advice
// drops the old file's cache, and faults read it back from the old file,
// which lives on while it is mapped.
func TestReplacedOrRemovedExecutable(t *testing.T) {
	for _, mode := range []string{"replace", "remove"} {
		t.Run(mode, func(t *testing.T) {
			d := t.TempDir()
			exe := copyExe(t, d, "memtrim.test", 0o755)
			cmd := exec.Command(exe, "-test.run=^TestMemtrimHelper$", "-test.count=1")
			cmd.Env = append(os.Environ(), helperEnv+"=replaced")
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			r := bufio.NewReader(stdout)
			if line, _ := r.ReadString('\n'); strings.TrimSpace(line) != "ready" {
				t.Fatalf("helper: %q", line)
			}
			switch mode {
			case "replace":
				other := filepath.Join(d, "new")
				if err := os.WriteFile(other, make([]byte, 8<<20), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(other, exe); err != nil {
					t.Fatal(err)
				}
			case "remove":
				if err := os.Remove(exe); err != nil {
					t.Fatal(err)
				}
			}
			fmt.Fprintln(stdin, "go")
			rest, _ := io.ReadAll(r)
			if err := cmd.Wait(); err != nil || !strings.Contains(string(rest), "ok ") {
				t.Fatalf("helper after %s: %v\n%s", mode, err, rest)
			}
		})
	}
}

// An exec-only binary (mode 0111) run by a user who cannot read it:
// opening /proc/self/exe fails, the page-cache advice is skipped, and the
// mappings are still marked MADV_RANDOM.
func TestExecOnlyBinary(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the helper as another user")
	}
	d, err := os.MkdirTemp("", "memtrim")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(d)
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	exe := copyExe(t, d, "memtrim.test", 0o111)
	cmd := exec.Command(exe, "-test.run=^TestMemtrimHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"=execonly")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if errors.Is(err, fs.ErrPermission) {
		t.Skipf("the other user cannot reach %s: %v", exe, err) // TMPDIR not traversable
	}
	if err != nil || !strings.Contains(string(out), "ok ") {
		t.Fatalf("exec-only helper: %v\n%s", err, out)
	}
}

// TestMemtrimHelper is the subprocess side of the tests above.
func TestMemtrimHelper(t *testing.T) {
	switch os.Getenv(helperEnv) {
	case "":
		t.Skip("helper only")
	case "replaced":
		TrimBeforeWork(true)
		fmt.Println("ready")
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
		n := work()
		Trim()
		n += work()
		TrimBeforeWork(true)
		n += work()
		fmt.Printf("ok work=%d\n", n)
	case "execonly":
		_, openErr := os.Open("/proc/self/exe")
		TrimBeforeWork(true)
		n := work()
		smaps, ms := selfMappings(t)
		for _, m := range ms {
			if !randomRead(t, smaps, m) {
				fmt.Printf("mapping %x-%x not marked MADV_RANDOM\n", m.start, m.end)
				os.Exit(1)
			}
		}
		fmt.Printf("ok work=%d open(/proc/self/exe)=%v\n", n, openErr)
	}
	os.Exit(0)
}

// work runs code the trims unmapped: JSON, fmt and regexp.
func work() int {
	n := 0
	for i := range 200 {
		b, _ := json.Marshal(map[string]any{"i": i, "s": fmt.Sprint(i), "f": float64(i) / 3})
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		n += len(m)
		if regexp.MustCompile(`^[a-z]+-\d+$`).MatchString(fmt.Sprintf("bench-%d", i)) {
			n++
		}
	}
	return n
}
