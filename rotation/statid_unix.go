//go:build unix

package rotation

import (
	"os"
	"strconv"
	"syscall"
)

// statIdentity is the device and inode of the file at path, symlinks
// followed, or "" when it cannot be told.
func statIdentity(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return ""
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	return "@" + strconv.FormatUint(uint64(st.Dev), 10) + ":" + strconv.FormatUint(uint64(st.Ino), 10)
}
