package file

import "golang.org/x/sys/unix"

// probedDirOf identifies the directory d for the probe cache, with the
// longest name its file system takes; false when it cannot be told, or
// its file system is mounted read-only.
func probedDirOf(d *dir) (probedDir, int, bool) {
	var st unix.Stat_t
	if err := unix.Fstat(d.fd, &st); err != nil {
		return probedDir{}, 0, false
	}
	var fs unix.Statfs_t
	if err := unix.Fstatfs(d.fd, &fs); err != nil || fs.Flags&unix.ST_RDONLY != 0 || fs.Namelen <= 0 {
		return probedDir{}, 0, false
	}
	return probedDir{dev: st.Dev, ino: st.Ino, mode: st.Mode, uid: st.Uid, gid: st.Gid}, int(fs.Namelen), true
}
