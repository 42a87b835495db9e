package file

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

// filesHolding lists the files of dir whose content contains s.
func filesHolding(t *testing.T, dir, s string) []string {
	t.Helper()
	var found []string
	for _, name := range dirNames(t, dir) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(s)) {
			found = append(found, name)
		}
	}
	return found
}

// TestWriteKeepsTempsOfOtherTargets: the name "x" must not take the temp
// file of the name "x.cred.tmp-1" (target "x.cred.tmp-1.cred") for its own,
// although that file's name starts with x's temp prefix: it may belong to
// a write in progress.
func TestWriteKeepsTempsOfOtherTargets(t *testing.T) {
	dir := t.TempDir()
	other := filepath.Join(dir, ".x.cred.tmp-1.cred.tmp-0123456789abcdef")
	if err := os.WriteFile(other, []byte("half a secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := newSink(t, dir, FormatEnv)
	ctx := context.Background()
	if err := s.Write(ctx, cred("x", "EXO1", testSecret)); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Fatalf("temp file of the target x.cred.tmp-1.cred removed by a write of x: %v", err)
	}
	// Its own target's write does remove it.
	if err := s.Write(ctx, cred("x.cred.tmp-1", "EXO2", testSecret)); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if _, err := os.Stat(other); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale temp file of x.cred.tmp-1.cred survived its target's write: %v", err)
	}
}

// TestWriteScansDirectoryOnce: a process looks for the temp files a crashed
// earlier process left in a directory once, at its first write there, not
// at every write (which costs O(N) per write in a directory of N targets).
// A temp file that appears later is not such a leftover: it belongs to a
// live writer, or to a crash the next process cleans up after.
func TestWriteScansDirectoryOnce(t *testing.T) {
	dir := t.TempDir()
	s := newSink(t, dir, FormatEnv)
	ctx := context.Background()
	if err := s.Write(ctx, cred("k", "EXO1", testSecret)); err != nil {
		t.Fatalf("Write: %v", err)
	}
	late := filepath.Join(dir, ".k.cred.tmp-0123456789abcdef")
	if err := os.WriteFile(late, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"k", "other"} {
		if err := s.Write(ctx, cred(name, "EXO2", testSecret)); err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
	if _, err := os.Stat(late); err != nil {
		t.Errorf("a later write scanned the directory again: %v", err)
	}
}

// Environment of TestCrashHelper.
const (
	envCrashDir  = "ROTATORD_FILE_CRASH_DIR"
	envCrashStep = "ROTATORD_FILE_CRASH_STEP"
	crashSecret  = "crash-secret-7f3e9a1c5b2d4e6f8a0b1c2d3e4f5a6b"
	crashExit    = 3
)

// TestCrashHelper is not a test of its own: TestWriteCrash runs the test
// binary again with it, to write a credential and exit at a step of the
// write without running any cleanup, as a SIGKILL or a power loss would.
func TestCrashHelper(t *testing.T) {
	dir, step := os.Getenv(envCrashDir), os.Getenv(envCrashStep)
	if dir == "" {
		t.Skip("helper process of TestWriteCrash")
	}
	s := newSink(t, dir, FormatJSON)
	s.inject = func(got string) error {
		if got == step {
			os.Exit(crashExit)
		}
		return nil
	}
	err := s.Write(context.Background(), cred("k", "EXOcrash", crashSecret))
	t.Fatalf("Write returned (%v) without reaching step %q", err, step)
}

// crash runs TestCrashHelper: a process that dies at step of a write of
// crashSecret to <dir>/k.cred.
func crash(t *testing.T, dir, step string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), envCrashDir+"="+dir, envCrashStep+"="+step)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != crashExit {
		t.Fatalf("helper process: %v, want exit status %d; output:\n%s", err, crashExit, out)
	}
}

// TestWriteCrash: a process that dies during a write leaves no file
// holding the secret behind, once the next process has written the same
// target; the only window in which it leaves one at all is between naming
// the temp file and renaming it over the target.
func TestWriteCrash(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	crash(t, dir, "rename")
	if h := filesHolding(t, dir, crashSecret); len(h) != 1 {
		t.Fatalf("after a crash just before the rename, %q hold the secret; want the temp file", h)
	}
	// The next process's first write of the target removes it.
	s := newSink(t, dir, FormatJSON)
	if err := s.Write(ctx, cred("k", "EXOnext", testSecret)); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if h := filesHolding(t, dir, crashSecret); len(h) != 0 {
		t.Errorf("after the next write, %q still hold the crashed write's secret", h)
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{"k.cred"}) {
		t.Errorf("directory holds %q, want only the target", names)
	}
}

var errInjected = errors.New("injected")

// TestWriteNamedTemp: the way without O_TMPFILE (other systems, file
// systems without it, a link the kernel refuses) replaces the target too,
// and a failure leaves nothing behind.
func TestWriteNamedTemp(t *testing.T) {
	dir := t.TempDir()
	s := newSink(t, dir, FormatJSON, func(o *Options) { o.UID = os.Getuid() })
	ctx := context.Background()
	c := cred("k", "EXO1", testSecret)
	content, err := render(s.format, s.tmpl, c)
	if err != nil {
		t.Fatal(err)
	}
	var steps []string
	s.inject = func(step string) error {
		steps = append(steps, step)
		return nil
	}
	d, err := s.openDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	if err := s.replaceVia(d, "k.cred", content, false); err != nil {
		t.Fatalf("replaceVia: %v", err)
	}
	if want := []string{"create", "mark", "chmod", "chown", "write", "sync", "close", "rename", "syncdir"}; !slices.Equal(steps, want) {
		t.Errorf("steps %q, want %q", steps, want)
	}
	if err := s.Verify(ctx, c); err != nil {
		t.Errorf("Verify: %v", err)
	}
	s.inject = func(step string) error {
		if step == "rename" {
			return errInjected
		}
		return nil
	}
	if err := s.replaceVia(d, "k.cred", []byte("other content\n"), false); !errors.Is(err, errInjected) {
		t.Fatalf("replaceVia = %v, want the injected error", err)
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{"k.cred"}) {
		t.Errorf("directory holds %q, want only the target", names)
	}
	if err := s.Verify(ctx, c); err != nil {
		t.Errorf("Verify after the failed write: %v", err)
	}
}
