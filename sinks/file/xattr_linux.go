package file

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// setMarker sets the marker attribute, with value, on the file rotatord is
// writing; errNoXattr when its file system keeps no user extended
// attributes.
func setMarker(f markedFile, value string) error {
	err := unix.Fsetxattr(int(f.Fd()), markerAttr, []byte(value), 0)
	if errors.Is(err, unix.EOPNOTSUPP) {
		return errNoXattr
	}
	if err != nil {
		return &os.PathError{Op: "set extended attribute " + markerAttr, Path: f.Name(), Err: err}
	}
	return nil
}

// readMarker returns the value of the open file f's marker attribute, ""
// when it has none (or one too long to be rotatord's).
func readMarker(f markedFile) (string, error) {
	buf := make([]byte, 256)
	n, err := unix.Fgetxattr(int(f.Fd()), markerAttr, buf)
	switch {
	case errors.Is(err, unix.ENODATA), errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.ERANGE):
		return "", nil
	case err != nil:
		return "", &os.PathError{Op: "read extended attribute " + markerAttr, Path: f.Name(), Err: err}
	}
	return string(buf[:n]), nil
}

// dropACL removes the access ACL of the file rotatord is writing: a file
// created in a directory with a default ACL inherits it, and its named
// entries would let other users read the secret than the sink's mode says.
func dropACL(f *os.File) error {
	err := unix.Fremovexattr(int(f.Fd()), "system.posix_acl_access")
	if err == nil || errors.Is(err, unix.ENODATA) || errors.Is(err, unix.EOPNOTSUPP) {
		return nil
	}
	return &os.PathError{Op: "remove the ACL of", Path: f.Name(), Err: err}
}
