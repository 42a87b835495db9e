package file

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// openUnnamed creates a file in d that has no name (O_TMPFILE): a crash
// before linkUnnamed leaves nothing behind. It returns errNeedNamed when
// the file system (EOPNOTSUPP) or the kernel (EISDIR, EINVAL) lacks it.
func openUnnamed(d *dir) (*os.File, error) {
	fd, err := unix.Openat(d.fd, ".", unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, 0o600)
	switch {
	case errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.EISDIR), errors.Is(err, unix.EINVAL):
		return nil, errNeedNamed
	case err != nil:
		return nil, &os.PathError{Op: "open unnamed temp file in", Path: d.path, Err: err}
	}
	return os.NewFile(uintptr(fd), "unnamed temp file in "+d.path), nil
}

// linkUnnamed gives the unnamed file f a new temp file name in d for the
// target base and returns it. Linking through /proc/self/fd needs no
// privilege, unlike AT_EMPTY_PATH. It returns errNeedNamed when /proc is
// not mounted (ENOENT), or when the kernel refuses the link (EPERM,
// EACCES: fs.protected_hardlinks and a file chowned to another user by a
// process without CAP_FOWNER): a named temp file works there.
func linkUnnamed(f *os.File, d *dir, base string) (string, error) {
	proc := "/proc/self/fd/" + strconv.FormatUint(uint64(f.Fd()), 10)
	for range 10 {
		tmp := tempName(base)
		err := unix.Linkat(unix.AT_FDCWD, proc, d.fd, tmp, unix.AT_SYMLINK_FOLLOW)
		switch {
		case err == nil:
			return tmp, nil
		case errors.Is(err, unix.EEXIST):
			continue
		case errors.Is(err, unix.ENOENT), errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
			return "", errNeedNamed
		}
		return "", &os.LinkError{Op: "link", Old: f.Name(), New: filepath.Join(d.path, tmp), Err: err}
	}
	return "", errors.New("cannot find an unused temp file name")
}
