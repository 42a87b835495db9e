package state

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// fdatasync makes f's data durable, and its size when it changed.
func fdatasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }

// syncFS makes durable every change of the file system that holds dir
// (syncfs(2)): the data of the files written and their renames.
func syncFS(dir *os.File) error { return unix.Syncfs(int(dir.Fd())) }
