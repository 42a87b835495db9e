//go:build !linux

package secret

import (
	"io/fs"
	"os"
	"syscall"
)

// openFile opens path for reading without blocking (O_NONBLOCK: a named
// pipe is not waited on) and without becoming its terminal (O_NOCTTY);
// the caller checks what it opened.
func openFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
}

type notRegularPath struct{}

func (e *notRegularPath) Error() string { return "not a regular file" }

func (e *notRegularPath) fileMode() fs.FileMode { return fs.ModeIrregular }

// readOnlyMount reports whether f is on a file system mounted read-only;
// not known here.
func readOnlyMount(*os.File) bool { return false }

// OnReadOnlyMount reports whether path is on a file system mounted
// read-only; not known here.
func OnReadOnlyMount(string) bool { return false }
