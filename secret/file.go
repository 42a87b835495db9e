package secret

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// A file that holds a secret (a credential, a token, a secret_id, a key)
// is opened and read here, the one way: without blocking, the type and
// mode checked on the file opened (not on the path, which may be replaced
// between a check and an open), and read bounded. Errors name the file as
// ShownPath shows it, never its content.

// NotRegularError: the file opened is not a regular file (a directory, a
// named pipe, a socket, a device). Symlinks are followed (Kubernetes
// mounts its Secrets and tokens as links).
type NotRegularError struct{ Type fs.FileMode }

func (e *NotRegularError) Error() string {
	return fmt.Sprintf("not a regular file (%s)", FileType(e.Type))
}

// ModeError: the file's permission bits include some the caller forbids
// (FileOptions.Forbid).
type ModeError struct{ Perm, Forbid fs.FileMode }

func (e *ModeError) Error() string {
	what := "its mode"
	switch {
	case e.Perm&e.Forbid&0o004 != 0:
		what = "everyone may read it"
	case e.Perm&e.Forbid&0o002 != 0:
		what = "everyone may write it"
	case e.Perm&e.Forbid&0o040 != 0:
		what = "its group may read it"
	}
	return fmt.Sprintf("mode %04o: %s", e.Perm, what)
}

// TooLargeError: the file holds more than FileOptions.Max bytes.
type TooLargeError struct{ Max int64 }

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("larger than %d bytes", e.Max)
}

// FileOptions say what a secret file must be.
type FileOptions struct {
	// Max is the most ReadFile reads; a larger file is refused (a
	// *TooLargeError), never cut short. 0 means 1 MiB.
	Max int64
	// Forbid are permission bits the file must not have (0o004: a key
	// nobody else on the host may read). 0 checks none: a Kubernetes
	// Secret volume mounts files 0644 by default. Write bits (0o022) are
	// not held against a file on a read-only mount (a ConfigMap volume of
	// defaultMode 0777): nobody may write it.
	Forbid fs.FileMode
}

// DefaultMaxFile is what ReadFile reads at most when FileOptions.Max is 0.
const DefaultMaxFile = 1 << 20

// OpenFile opens the secret file at path for reading without blocking
// (O_NONBLOCK: a named pipe planted at the path is refused at once, not
// waited on until someone writes to it; O_NOCTTY: a terminal planted
// there does not become rotatord's controlling terminal, from which its
// owner could stop rotatord with ^C or ^Z; on Linux, what is not a
// regular file is refused before it is opened at all, as a device's open
// has effects of its own) and checks the file opened: a
// regular file (else a *NotRegularError), without the bits o.Forbid names
// (else a *ModeError). Each error is an *fs.PathError whose path is
// ShownPath's. The caller closes the file.
func OpenFile(path string, o FileOptions) (*os.File, fs.FileInfo, error) {
	f, err := openFile(path)
	var nr *notRegularPath
	if errors.As(err, &nr) {
		return nil, nil, &fs.PathError{Op: "open", Path: ShownPath(path), Err: &NotRegularError{Type: nr.fileMode()}}
	}
	if err != nil {
		return nil, nil, PathError(err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, &fs.PathError{Op: "stat", Path: ShownPath(path), Err: pathErrInner(err)}
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, &fs.PathError{Op: "open", Path: ShownPath(path), Err: &NotRegularError{Type: fi.Mode().Type()}}
	}
	if bad := fi.Mode().Perm() & o.Forbid; bad != 0 && (bad&^0o022 != 0 || !readOnlyMount(f)) {
		f.Close()
		return nil, nil, &fs.PathError{Op: "open", Path: ShownPath(path), Err: &ModeError{Perm: fi.Mode().Perm(), Forbid: o.Forbid}}
	}
	return f, fi, nil
}

// ReadFile reads the secret file at path, checked as OpenFile does, and
// at most o.Max bytes: a larger file is refused (a *TooLargeError) rather
// than read without end (a device) or cut short. The content is returned
// as it is (white space included). Each error is an *fs.PathError whose
// path is ShownPath's.
func ReadFile(path string, o FileOptions) ([]byte, error) {
	max := o.Max
	if max <= 0 {
		max = DefaultMaxFile
	}
	f, _, err := OpenFile(path, o)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: ShownPath(path), Err: pathErrInner(err)}
	}
	if int64(len(b)) > max {
		return nil, &fs.PathError{Op: "read", Path: ShownPath(path), Err: &TooLargeError{Max: max}}
	}
	return b, nil
}

// FileType names the type of a file that is not a regular file, for
// errors.
func FileType(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDevice != 0:
		return "device"
	}
	return m.Type().String()
}

// pathErrInner is the error an *fs.PathError wraps, or err: the caller
// names the path again, as ShownPath shows it.
func pathErrInner(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// CheckRegular opens path as OpenFile does, without blocking, and closes
// it: for files a library will read itself (a kubeconfig's CA, a web
// configuration's key), which must at least be regular files when asked.
func CheckRegular(path string) error {
	f, _, err := OpenFile(path, FileOptions{})
	if err != nil {
		return err
	}
	return f.Close()
}

// Cause is the error an *fs.PathError from OpenFile or ReadFile wraps,
// for a caller that names the file in words of its own.
func Cause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
