//go:build linux

package secret

import (
	"errors"
	"io/fs"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// openFile opens path for reading only once the file it leads to is known
// to be a regular file: it is first opened with O_PATH, which opens
// nothing (a device's open has effects of its own: /dev/watchdog arms the
// host's watchdog; a named pipe's wakes its writer), and stat'd; a regular
// file is then opened through /proc/self/fd, the same file whatever the
// path leads to by then. Without /proc, path is opened again and must be
// the same file. The *os.File returned is checked by the caller as well.
func openFile(path string) (*os.File, error) {
	fd, err := unix.Open(path, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, &notRegularPath{mode: st.Mode}
	}
	const flags = os.O_RDONLY | unix.O_NONBLOCK | unix.O_NOCTTY
	f, err := os.OpenFile("/proc/self/fd/"+strconv.Itoa(fd), flags, 0)
	if err == nil {
		return f, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, &fs.PathError{Op: "open", Path: path, Err: pathErrInner(err)}
	}
	// No /proc: open the path again, and make sure it is the file seen.
	f, err = os.OpenFile(path, flags, 0)
	if err != nil {
		return nil, err
	}
	var again unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &again); err != nil || again.Dev != st.Dev || again.Ino != st.Ino {
		f.Close()
		return nil, &fs.PathError{Op: "open", Path: path, Err: errors.New("replaced while it was opened")}
	}
	return f, nil
}

// notRegularPath: the O_PATH stat found something else than a regular
// file; OpenFile turns it into a *NotRegularError.
type notRegularPath struct{ mode uint32 }

func (e *notRegularPath) Error() string { return "not a regular file" }

func (e *notRegularPath) fileMode() fs.FileMode {
	switch e.mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return fs.ModeDir
	case unix.S_IFIFO:
		return fs.ModeNamedPipe
	case unix.S_IFSOCK:
		return fs.ModeSocket
	case unix.S_IFCHR:
		return fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		return fs.ModeDevice
	case unix.S_IFLNK:
		return fs.ModeSymlink
	}
	return fs.ModeIrregular
}

// readOnlyMount reports whether f is on a file system mounted read-only,
// where its write bits give nobody a write.
func readOnlyMount(f *os.File) bool {
	c, err := f.SyscallConn()
	if err != nil {
		return false
	}
	var st unix.Statfs_t
	var serr error
	if err := c.Control(func(fd uintptr) { serr = unix.Fstatfs(int(fd), &st) }); err != nil || serr != nil {
		return false
	}
	return st.Flags&unix.ST_RDONLY != 0
}

// OnReadOnlyMount reports whether path is on a file system mounted
// read-only.
func OnReadOnlyMount(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && st.Flags&unix.ST_RDONLY != 0
}
