//go:build unix && !linux

package file

import (
	"golang.org/x/sys/unix"
)

// Without O_PATH and openat2 the walk opens each directory for reading,
// and reads a symlink by name after a stat of it, checking after the read
// that the same link is still there. There is no ACL check.

func openRoot() (int, error) {
	return unix.Open("/", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
}

func openNoSymlinks(string) (int, bool) { return -1, false }

func lookup(cur int, name string) (entry, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(cur, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return entry{}, err
	}
	switch uint32(st.Mode) & unix.S_IFMT {
	case unix.S_IFDIR:
		fd, err := unix.Openat(cur, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return entry{}, err
		}
		return entry{kind: entryDir, fd: fd}, nil
	case unix.S_IFLNK:
		buf := make([]byte, 4096)
		n, err := unix.Readlinkat(cur, name, buf)
		if err != nil {
			return entry{}, err
		}
		var again unix.Stat_t
		if err := unix.Fstatat(cur, name, &again, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return entry{}, err
		}
		if again.Ino != st.Ino || again.Dev != st.Dev || again.Uid != st.Uid || n == len(buf) {
			return entry{}, unix.EAGAIN
		}
		return entry{kind: entrySymlink, uid: int(st.Uid), target: string(buf[:n])}, nil
	}
	return entry{kind: entryOther}, nil
}

func finishDir(fd int) (int, error) { return fd, nil }

// openParent opens the parent of directory fd.
func openParent(fd int) (int, error) {
	return unix.Openat(fd, "..", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
}
