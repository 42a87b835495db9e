//go:build unix

package file

import (
	"io/fs"
	"syscall"
)

// owner returns the uid and gid of a file, when the platform reports them.
func owner(fi fs.FileInfo) (uid, gid int, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, false
	}
	return int(st.Uid), int(st.Gid), true
}
