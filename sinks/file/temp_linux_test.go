package file

import (
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// needUnnamedTemp skips unless dir's file system supports O_TMPFILE.
func needUnnamedTemp(t *testing.T, dir string) {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, 0o600)
	if err != nil {
		t.Skipf("no O_TMPFILE in %s: %v", dir, err)
	}
	unix.Close(fd)
}

// TestWriteCrashBeforeLink: with O_TMPFILE the temp file has no name while
// the secret is written and synced, so a process that dies then leaves
// nothing behind, not even until the next write.
func TestWriteCrashBeforeLink(t *testing.T) {
	for _, step := range []string{"chmod", "write", "sync"} {
		t.Run(step, func(t *testing.T) {
			dir := t.TempDir()
			needUnnamedTemp(t, dir)
			crash(t, dir, step)
			if names := dirNames(t, dir); len(names) != 0 {
				t.Errorf("a crash at step %s left %q behind", step, names)
			}
		})
	}
}

// TestWriteFailureAtLink: a write that fails once its unnamed temp file is
// complete keeps the previous file and leaves nothing behind.
func TestWriteFailureAtLink(t *testing.T) {
	dir := t.TempDir()
	needUnnamedTemp(t, dir)
	s := newSink(t, dir, FormatJSON)
	ctx := t.Context()
	old := cred("k", "EXOold", "old-secret")
	if err := s.Write(ctx, old); err != nil {
		t.Fatal(err)
	}
	var reached bool
	s.inject = func(step string) error {
		if step == "link" {
			reached = true
			return errInjected
		}
		return nil
	}
	if err := s.Write(ctx, cred("k", "EXOnew", testSecret)); err == nil || !reached {
		t.Fatalf("Write = %v (link step reached: %v), want the injected error", err, reached)
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{"k.cred"}) {
		t.Errorf("directory holds %q, want only the target", names)
	}
	if err := s.Verify(ctx, old); err != nil {
		t.Errorf("Verify(old): %v", err)
	}
}
