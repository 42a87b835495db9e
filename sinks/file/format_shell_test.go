package file

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// shell is one long-lived shell process that sources files on request, so
// that checking an input costs a fork (a subshell) rather than starting a
// shell. Each file is sourced in its own subshell with stdin from /dev/null:
// whatever a broken file does (exit, read, set traps, define functions)
// stays in that subshell, and anything it prints lands between the values
// and the end marker, where it is seen as a mismatch.
type shell struct {
	name string
	dir  string

	mu     sync.Mutex
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *os.File
	out    *bufio.Reader
	errLog string
}

// shellPaths returns the shells to check: /bin/sh always, and bash and dash
// when installed.
func shellPaths(tb testing.TB) []string {
	if _, err := os.Stat("/bin/sh"); err != nil {
		tb.Skip("no /bin/sh")
	}
	paths := []string{"/bin/sh"}
	for _, name := range []string{"bash", "dash"} {
		if p, err := exec.LookPath(name); err == nil {
			paths = append(paths, p)
		}
	}
	return paths
}

// startShells starts one shell per shellPaths entry; tb's cleanup stops them.
func startShells(tb testing.TB) []*shell {
	var shells []*shell
	for _, p := range shellPaths(tb) {
		shells = append(shells, startShell(tb, p))
	}
	return shells
}

func startShell(tb testing.TB, path string) *shell {
	tb.Helper()
	dir := tb.TempDir()
	errLog := filepath.Join(dir, "stderr")
	stderr, err := os.Create(errLog)
	if err != nil {
		tb.Fatal(err)
	}
	defer stderr.Close()
	cmd := exec.Command(path)
	cmd.Dir = dir
	// Nothing inherited: no EXOSCALE_* variable from the environment can
	// stand in for a value the file failed to set. The C locale makes the
	// shell see bytes, the least forgiving reading.
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C"}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stdout = w
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		tb.Fatalf("start %s: %v", path, err)
	}
	w.Close()
	s := &shell{
		name: path, dir: dir, cmd: cmd, stdin: stdin, stdout: r,
		out: bufio.NewReader(r), errLog: errLog,
	}
	tb.Cleanup(s.stop)
	return s
}

func (s *shell) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stdin.Close() // the shell exits at the end of its input
	done := make(chan struct{})
	go func() {
		s.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
	s.stdout.Close()
}

// source writes content to a file, sources it with ". ./file" in a fresh
// subshell and returns the values of exprs (shell words such as
// "$EXOSCALE_API_KEY") after it, as printf '%s\0' prints them. None of the
// values can hold a NUL byte: no shell variable can.
func (s *shell) source(content []byte, exprs ...string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := os.WriteFile(filepath.Join(s.dir, "file"), content, 0o600); err != nil {
		return nil, err
	}
	nonce := make([]byte, 16)
	rand.Read(nonce)
	end := "end-" + hex.EncodeToString(nonce)
	script := fmt.Sprintf("( . ./file; printf '%%s\\0' %s ) </dev/null; printf '%s %%s\\0' \"$?\"\n",
		strings.Join(exprs, " "), end)
	if _, err := io.WriteString(s.stdin, script); err != nil {
		return nil, fmt.Errorf("%s: %w (stderr: %s)", s.name, err, s.stderr())
	}
	s.stdout.SetReadDeadline(time.Now().Add(20 * time.Second))
	var got []string
	for {
		tok, err := s.out.ReadString(0)
		if err != nil {
			return nil, fmt.Errorf("%s: reading its output: %w (stderr: %s)", s.name, err, s.stderr())
		}
		tok = strings.TrimSuffix(tok, "\x00")
		if status, ok := strings.CutPrefix(tok, end+" "); ok {
			if status != "0" {
				return got, fmt.Errorf("%s: the subshell exited with %s (stderr: %s)", s.name, status, s.stderr())
			}
			return got, nil
		}
		got = append(got, tok)
	}
}

// stderr returns and clears what the shell wrote to its standard error.
func (s *shell) stderr() string {
	b, _ := os.ReadFile(s.errLog)
	os.Truncate(s.errLog, 0)
	return string(bytes.TrimSpace(b))
}

// checkSourced sources content in every shell and compares the values of
// exprs with want.
func checkSourced(t *testing.T, shells []*shell, what string, content []byte, exprs []string, want []string) {
	t.Helper()
	for _, sh := range shells {
		got, err := sh.source(content, exprs...)
		if err == nil && len(got) != len(want) {
			err = fmt.Errorf("%s: %d values, want %d", sh.name, len(got), len(want))
		}
		if err == nil {
			for i := range want {
				if got[i] != want[i] {
					err = fmt.Errorf("%s: %s = %q, want %q", sh.name, exprs[i], got[i], want[i])
					break
				}
			}
		}
		if err == nil {
			if msg := sh.stderr(); msg != "" {
				err = fmt.Errorf("%s wrote to stderr: %s", sh.name, msg)
			}
		}
		if err != nil {
			t.Errorf("%s sourced by %v\nfile: %q\ngot: %q", what, err, content, got)
		}
	}
}
