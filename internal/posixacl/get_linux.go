package posixacl

import (
	"errors"

	"golang.org/x/sys/unix"
)

// xattrSizeMax is the largest value an extended attribute may have
// (linux/limits.h XATTR_SIZE_MAX): an ACL of more than 510 entries (tmpfs,
// XFS, btrfs) does not fit the first read's 4 KiB, and is read again so.
const xattrSizeMax = 64 << 10

// FGet returns the access ACL of the open file fd, nil when it has none or
// its file system has no ACLs.
func FGet(fd int) ([]Entry, error) {
	buf := make([]byte, 4096)
	n, err := unix.Fgetxattr(fd, "system.posix_acl_access", buf)
	if errors.Is(err, unix.ERANGE) {
		buf = make([]byte, xattrSizeMax)
		n, err = unix.Fgetxattr(fd, "system.posix_acl_access", buf)
	}
	return decode(buf, n, err)
}

// LGet returns the access ACL of path, not followed if a symlink, nil when
// it has none or its file system has no ACLs.
func LGet(path string) ([]Entry, error) {
	buf := make([]byte, 4096)
	n, err := unix.Lgetxattr(path, "system.posix_acl_access", buf)
	if errors.Is(err, unix.ERANGE) {
		buf = make([]byte, xattrSizeMax)
		n, err = unix.Lgetxattr(path, "system.posix_acl_access", buf)
	}
	return decode(buf, n, err)
}

func decode(buf []byte, n int, err error) ([]Entry, error) {
	switch {
	case errors.Is(err, unix.ENODATA), errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.ENOSYS):
		return nil, nil
	case err != nil:
		return nil, err
	}
	return Parse(buf[:n])
}
