package file

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// setMarker sets the marker attribute on the file rotatord is writing;
// errNoXattr when its file system keeps no user extended attributes.
func setMarker(f *os.File) error {
	err := unix.Fsetxattr(int(f.Fd()), markerAttr, []byte(markerValue), 0)
	if errors.Is(err, unix.EOPNOTSUPP) {
		return errNoXattr
	}
	if err != nil {
		return &os.PathError{Op: "set extended attribute " + markerAttr, Path: f.Name(), Err: err}
	}
	return nil
}

// hasMarker reports whether the open file f carries the marker attribute.
func hasMarker(f *os.File) (bool, error) {
	buf := make([]byte, 64)
	n, err := unix.Fgetxattr(int(f.Fd()), markerAttr, buf)
	switch {
	case errors.Is(err, unix.ENODATA), errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.ERANGE):
		return false, nil
	case err != nil:
		return false, &os.PathError{Op: "read extended attribute " + markerAttr, Path: f.Name(), Err: err}
	}
	return string(buf[:n]) == markerValue, nil
}
