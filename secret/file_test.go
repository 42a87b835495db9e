//go:build unix

package secret

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A secret file that is a named pipe is refused at once, as not a regular
// file, naming the path: a blocking open would wait until someone writes.
func TestSecretFileThatIsAPipeIsRefusedAtOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	done := make(chan error, 1)
	go func() { _, err := ReadFile(path, FileOptions{}); done <- err }()
	var err error
	select {
	case err = <-done:
	case <-time.After(time.Minute):
		if w, werr := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0); werr == nil {
			w.Close()
		}
		<-done
		t.Fatal("ReadFile of a named pipe still waits after a minute")
	}
	var nr *NotRegularError
	if !errors.As(err, &nr) || !strings.Contains(err.Error(), ShownPath(path)) || !strings.Contains(err.Error(), "not a regular file (named pipe)") {
		t.Errorf("ReadFile of a named pipe: %v, want it refused as not a regular file (named pipe), naming %s", err, path)
	}
}

// A device (it never ends) and a directory are refused before any read.
func TestSecretFileThatIsADeviceOrADirectoryIsRefused(t *testing.T) {
	for path, want := range map[string]string{"/dev/zero": "device", t.TempDir(): "directory"} {
		_, err := ReadFile(path, FileOptions{})
		var nr *NotRegularError
		if !errors.As(err, &nr) || !strings.Contains(err.Error(), want) {
			t.Errorf("ReadFile(%s): %v, want refused as not a regular file (%s)", path, err, want)
		}
	}
}

// A file larger than the bound is refused, not cut short: the first bytes
// of something else are no secret.
func TestSecretFileLargerThanTheBoundIsRefusedNotCut(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte(strings.Repeat("x", 101)), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := ReadFile(path, FileOptions{Max: 100})
	var tl *TooLargeError
	if !errors.As(err, &tl) || !strings.Contains(err.Error(), "larger than 100 bytes") || !strings.Contains(err.Error(), ShownPath(path)) {
		t.Errorf("ReadFile of 101 bytes bounded at 100: %q, %v, want refused as larger than 100 bytes", b, err)
	}
	if err := os.WriteFile(path, []byte(strings.Repeat("x", 100)+"\n"[:0]), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadFile(path, FileOptions{Max: 100}); err != nil || len(b) != 100 {
		t.Errorf("ReadFile of 100 bytes bounded at 100: %d bytes, %v, want all of them", len(b), err)
	}
}

// The mode bits a caller forbids are refused on the file opened; without
// any forbidden, a world-readable file (a Kubernetes Secret volume's
// default) is read.
func TestSecretFileWithAForbiddenModeIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(path, []byte("k3y\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ReadFile(path, FileOptions{Forbid: 0o004})
	var me *ModeError
	if !errors.As(err, &me) || me.Perm != 0o644 || !strings.Contains(err.Error(), "everyone may read it") {
		t.Errorf("ReadFile of a 0644 file forbidding 0o004: %v, want refused: everyone may read it", err)
	}
	if b, err := ReadFile(path, FileOptions{}); err != nil || string(b) != "k3y\n" {
		t.Errorf("ReadFile of a 0644 file forbidding nothing: %q, %v, want its content as it is", b, err)
	}
}

// An error never shows a secret pasted where the path belongs.
func TestSecretFileErrorsDoNotShowASecretPastedAsThePath(t *testing.T) {
	const pasted = "hvs.CAESIJ3kq9Zr7XbTq2Lw8pVnYd4m"
	dir := t.TempDir()
	for _, path := range []string{filepath.Join(dir, pasted), pasted} {
		_, err := ReadFile(path, FileOptions{})
		if err == nil || strings.Contains(err.Error(), pasted) || !errors.Is(err, os.ErrNotExist) {
			t.Errorf("ReadFile(<pasted secret>): %v, want a not-found error without the secret", err)
		}
	}
}
