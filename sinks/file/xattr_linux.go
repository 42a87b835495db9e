package file

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// setMarker sets the marker attribute, with value, on the file rotatord is
// writing; errNoXattr when its file system keeps no user extended
// attributes.
func setMarker(f *os.File, value string) error {
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
