package file

import (
	"errors"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// noOpenat2 is set once openat2 turned out to be missing (ENOSYS) or
// filtered (EPERM from a seccomp profile), and by tests to force the walk.
var noOpenat2 atomic.Bool

// openRoot opens "/" for lookups only.
func openRoot() (int, error) {
	return unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
}

// openNoSymlinks opens directory path with openat2 when no symlink is on
// it; ok is false on any failure, for the walk to retry and explain.
func openNoSymlinks(path string) (fd int, ok bool) {
	if noOpenat2.Load() {
		return -1, false
	}
	if strings.HasPrefix(path, "/") {
		// One system call where the general case below makes five: an
		// absolute path resolved from the current directory is the path
		// resolved beneath "/" (".." stops at "/" either way), and the
		// directory is opened for reading at once instead of by O_PATH
		// and then ".". Any failure falls back to the general case, and
		// from there to the walk, which explains.
		fd, err := unix.Openat2(unix.AT_FDCWD, path, &unix.OpenHow{
			Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
		})
		if err == nil {
			return fd, true
		}
	}
	root, err := openRoot()
	if err != nil {
		return -1, false
	}
	defer unix.Close(root)
	rel := strings.TrimLeft(path, "/")
	if rel == "" {
		rel = "."
	}
	pfd, err := unix.Openat2(root, rel, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) {
		noOpenat2.Store(true)
	}
	if err != nil {
		return -1, false
	}
	fd, err = finishDir(pfd)
	if err != nil {
		return -1, false
	}
	return fd, true
}

// lookup opens name in the directory cur without following it (O_PATH,
// O_NOFOLLOW) and tells what it is from the opened file itself, so that
// what is checked is what is used.
func lookup(cur int, name string) (entry, error) {
	fd, err := unix.Openat(cur, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return entry{}, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return entry{}, err
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return entry{kind: entryDir, fd: fd}, nil
	case unix.S_IFLNK:
		defer unix.Close(fd)
		target, err := readlinkFD(fd)
		if err != nil {
			return entry{}, err
		}
		return entry{kind: entrySymlink, uid: int(st.Uid), target: target}, nil
	}
	unix.Close(fd)
	return entry{kind: entryOther}, nil
}

// readlinkFD reads the target of the symlink opened with O_PATH as fd.
func readlinkFD(fd int) (string, error) {
	for size := 256; size <= 1<<16; size *= 4 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(fd, "", buf)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
	return "", unix.ENAMETOOLONG
}

// finishDir turns the O_PATH descriptor of a directory into one that can be
// listed, synced and used for O_TMPFILE, and closes the former.
func finishDir(pfd int) (int, error) {
	defer unix.Close(pfd)
	return unix.Openat(pfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
}

// openParent opens the parent of directory fd, for lookups only.
func openParent(fd int) (int, error) {
	return unix.Openat(fd, "..", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
}
