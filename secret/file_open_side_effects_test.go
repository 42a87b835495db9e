//go:build linux

package secret

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// Opening a device has effects of its own, refused or not: /dev/watchdog
// arms the machine's watchdog (closed without its magic character, the
// host reboots), a tape rewinds, a serial line raises its modem lines;
// opening a named pipe wakes the writer waiting on it. A secret file's
// path (or a link there) that leads to anything but a regular file is
// refused without the file being opened at all. Seen through inotify,
// which reports every open of the file.
func TestASecretPathLeadingToAPipeOrDeviceIsRefusedWithoutOpeningIt(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "token")
	if err := os.Symlink(fifo, link); err != nil {
		t.Fatal(err)
	}
	in, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		t.Skipf("no inotify: %v", err)
	}
	defer unix.Close(in)
	if _, err := unix.InotifyAddWatch(in, fifo, unix.IN_OPEN); err != nil {
		t.Skipf("inotify: %v", err)
	}
	for _, p := range []string{fifo, link} {
		_, err := ReadFile(p, FileOptions{})
		var nr *NotRegularError
		if !errors.As(err, &nr) {
			t.Fatalf("ReadFile(%s) = %v, want a refusal as a named pipe", p, err)
		}
	}
	buf := make([]byte, 4096)
	if n, _ := unix.Read(in, buf); n > 0 {
		t.Fatal("the named pipe was opened before it was refused: a device there would have been opened too")
	}
	// A regular file is still read, through a link as well.
	f := filepath.Join(dir, "secret")
	if err := os.WriteFile(f, []byte("s3cr3t\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	l := filepath.Join(dir, "link")
	if err := os.Symlink(f, l); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{f, l} {
		if b, err := ReadFile(p, FileOptions{Forbid: 0o004}); err != nil || string(b) != "s3cr3t\n" {
			t.Errorf("ReadFile(%s) = %q, %v", p, b, err)
		}
	}
}
