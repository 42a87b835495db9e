package posixacl

import (
	"errors"

	"golang.org/x/sys/unix"
)

// FGet returns the access ACL of the open file fd, nil when it has none or
// its file system has no ACLs.
func FGet(fd int) ([]Entry, error) {
	buf := make([]byte, 4096)
	n, err := unix.Fgetxattr(fd, "system.posix_acl_access", buf)
	return decode(buf, n, err)
}

// LGet returns the access ACL of path, not followed if a symlink, nil when
// it has none or its file system has no ACLs.
func LGet(path string) ([]Entry, error) {
	buf := make([]byte, 4096)
	n, err := unix.Lgetxattr(path, "system.posix_acl_access", buf)
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
