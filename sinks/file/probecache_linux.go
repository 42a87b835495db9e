package file

import "golang.org/x/sys/unix"

// probedDirOf identifies the directory d for the probe cache; false when
// it cannot be told, or its file system is mounted read-only.
func probedDirOf(d *dir) (probedDir, bool) {
	var st unix.Stat_t
	if err := unix.Fstat(d.fd, &st); err != nil {
		return probedDir{}, false
	}
	var fs unix.Statfs_t
	if err := unix.Fstatfs(d.fd, &fs); err != nil || fs.Flags&unix.ST_RDONLY != 0 {
		return probedDir{}, false
	}
	return probedDir{dev: st.Dev, ino: st.Ino, mode: st.Mode, uid: st.Uid, gid: st.Gid}, true
}
