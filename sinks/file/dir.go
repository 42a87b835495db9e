package file

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/rotatord/rotatord/internal/posixacl"
)

// A sink's directory is opened once per operation, and every later system
// call names the files in it relative to that open directory (openat,
// fstatat, renameat, unlinkat, linkat): once the directory is open and
// checked, nobody can move the operation elsewhere by renaming or
// replacing a directory on the path.
//
// How the directory is reached (resolveDir), from "/", one component at a
// time:
//
//   - A symlink on the path is followed only if its owner is root (uid 0)
//     or rotatord's effective uid, wherever it sits. The owner of a
//     symlink is whoever created it (only a privileged process can chown
//     one), so such a link was made by root or by rotatord itself; a link
//     any other user made (in a directory of theirs, or in a sticky
//     world-writable one like /tmp) is refused, not followed. This is the
//     kernel's fs.protected_symlinks rule made stricter: the kernel only
//     applies it in sticky world-writable directories and also follows a
//     link owned by the directory's owner; rotatord applies it in every
//     directory and trusts no other owner. A link's target is resolved the
//     same way (at most 40 links), ".." going to the physical parent.
//   - Where openat2(2) exists, the whole path is first opened with
//     RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS from "/": a
//     path without any symlink (the common case) costs one system call.
//     Any failure (a symlink on the path, ENOSYS, a seccomp filter) falls
//     back to the walk above, which gives the precise error.
//   - On Linux the walk holds each directory with O_PATH and reads a
//     symlink's owner and target from the link it opened (fstat,
//     readlinkat with an empty name), so nothing can be swapped between
//     the check and the use.
//
// Who may write the directory reached (checkWriters, on the open
// directory): only root, rotatord's user and the sink's configured owner
// and group. Precisely, the directory is refused unless
//
//   - its owner is uid 0, rotatord's effective uid, or the sink's
//     configured owner (its owner can always chmod it);
//   - it is not writable by all users, sticky bit or not: in a sticky
//     directory anyone can still plant a file or a symlink at a target's
//     name before rotatord writes it;
//   - when it is group-writable, its group is gid 0, rotatord's effective
//     gid, or the sink's configured group;
//   - (Linux) when it has a POSIX access ACL, no named user or group entry
//     grants write (through the mask) to a user or group outside the sets
//     above, and the owning group's entry is judged like the group bits.
//
// Directories above the sink's directory are not checked: a user who can
// rename entries in one of them can only make the walk reach a directory
// they control (refused by the rule above) or a symlink of theirs
// (refused), or a directory that root made beneath their own.
type dir struct {
	path string // as configured, for errors
	fd   int    // O_RDONLY|O_DIRECTORY
}

func (d *dir) close() { unix.Close(d.fd) }

// maxSymlinks bounds the symlinks one resolution follows, like the kernel's
// limit of 40 (ELOOP).
const maxSymlinks = 40

// openDir resolves the sink directory path and checks who may write it.
func (s *Sink) openDir(path string) (*dir, error) {
	fd, err := resolveDir(path)
	if err != nil {
		return nil, err
	}
	d := &dir{path: path, fd: fd}
	if err := s.checkWriters(d); err != nil {
		d.close()
		return nil, err
	}
	return d, nil
}

// entryKind is what lookup found.
type entryKind int

const (
	entryDir entryKind = iota
	entrySymlink
	entryOther
)

// entry is one path component looked up without following it.
type entry struct {
	kind   entryKind
	fd     int    // the directory, for entryDir
	uid    int    // the symlink's owner, for entrySymlink
	target string // the symlink's target, for entrySymlink
}

// resolveDir opens directory path by the rule above and returns an
// O_RDONLY|O_DIRECTORY descriptor.
func resolveDir(path string) (int, error) {
	if fd, ok := openNoSymlinks(path); ok {
		return fd, nil
	}
	return walkDir(path)
}

// walkDir is resolveDir one component at a time.
func walkDir(path string) (int, error) {
	cur, err := openRoot()
	if err != nil {
		return -1, fmt.Errorf("directory %s: open /: %w", path, err)
	}
	closeCur := func() { unix.Close(cur) }
	// todo holds the components left, front first; a symlink's target is
	// put in front of them. at is the path of the directory cur as the
	// walk reached it, for errors.
	todo := strings.Split(path, "/")
	at := "/"
	links := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		if c == "" || c == "." {
			continue
		}
		here := filepath.Join(at, c)
		e, err := lookup(cur, c)
		switch {
		case errors.Is(err, unix.ENOENT):
			closeCur()
			if here == path {
				return -1, fmt.Errorf("directory %s does not exist", path)
			}
			return -1, fmt.Errorf("directory %s does not exist (no %s)", path, here)
		case err != nil:
			closeCur()
			return -1, fmt.Errorf("directory %s: %s: %w", path, here, err)
		}
		switch e.kind {
		case entryDir:
			closeCur()
			cur, at = e.fd, here
		case entrySymlink:
			euid := os.Geteuid()
			if e.uid != 0 && e.uid != euid {
				closeCur()
				return -1, fmt.Errorf("directory %s: %s is a symlink owned by uid %d: only symlinks owned by root or rotatord's user (uid %d) are followed, as another user may have planted it",
					path, here, e.uid, euid)
			}
			links++
			if links > maxSymlinks {
				closeCur()
				return -1, fmt.Errorf("directory %s: more than %d symlinks", path, maxSymlinks)
			}
			if e.target == "" {
				closeCur()
				return -1, fmt.Errorf("directory %s: %s is an empty symlink", path, here)
			}
			todo = append(strings.Split(e.target, "/"), todo...)
			if strings.HasPrefix(e.target, "/") {
				closeCur()
				if cur, err = openRoot(); err != nil {
					return -1, fmt.Errorf("directory %s: open /: %w", path, err)
				}
				at = "/"
			}
		default:
			closeCur()
			if here == path {
				return -1, fmt.Errorf("%s is not a directory", path)
			}
			return -1, fmt.Errorf("directory %s: %s is not a directory", path, here)
		}
	}
	fd, err := finishDir(cur)
	if err != nil {
		return -1, fmt.Errorf("directory %s: %w", path, err)
	}
	return fd, nil
}

// checkWriters refuses a directory that others than root, rotatord's user
// and the sink's owner and group can write (see dir).
func (s *Sink) checkWriters(d *dir) error {
	var st unix.Stat_t
	if err := unix.Fstat(d.fd, &st); err != nil {
		return fmt.Errorf("directory %s: %w", d.path, err)
	}
	mode := uint32(st.Mode)
	uid, gid := int(st.Uid), int(st.Gid)
	if !s.trustedUID(uid) {
		return fmt.Errorf("directory %s is owned by uid %d, not by root, rotatord's user (uid %d) or the sink's owner: its owner could replace or redirect the credential",
			d.path, uid, os.Geteuid())
	}
	if mode&0o002 != 0 {
		return fmt.Errorf("directory %s is writable by all users (mode %#o): anyone could plant a file or symlink at a credential's name",
			d.path, mode&0o7777)
	}
	acl, err := posixacl.FGet(d.fd)
	if err != nil {
		return fmt.Errorf("directory %s: read its ACL: %w", d.path, err)
	}
	for _, w := range posixacl.GroupClassWriters(mode&0o777, gid, acl) {
		switch {
		case acl == nil && !s.trustedGID(w.ID):
			return fmt.Errorf("directory %s is writable by group %d (mode %#o), not root's, rotatord's (gid %d) or the sink's group",
				d.path, w.ID, mode&0o7777, os.Getegid())
		case w.Tag == posixacl.User && !s.trustedUID(w.ID):
			return fmt.Errorf("directory %s: its ACL lets uid %d write", d.path, w.ID)
		case acl != nil && w.Tag != posixacl.User && !s.trustedGID(w.ID):
			return fmt.Errorf("directory %s: its ACL lets group %d write", d.path, w.ID)
		}
	}
	return nil
}

func (s *Sink) trustedUID(uid int) bool {
	return uid == 0 || uid == os.Geteuid() || s.uid >= 0 && uid == s.uid
}

func (s *Sink) trustedGID(gid int) bool {
	return gid == 0 || gid == os.Getegid() || s.gid >= 0 && gid == s.gid
}

// stat looks at name in d without following it; the error matches
// fs.ErrNotExist when there is nothing.
func (d *dir) stat(name string) (*unix.Stat_t, error) {
	var st unix.Stat_t
	err := unix.Fstatat(d.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
	if err != nil {
		return nil, &fs.PathError{Op: "stat", Path: filepath.Join(d.path, name), Err: err}
	}
	return &st, nil
}

// openRegular opens the regular file name in d for reading without
// following a symlink and without blocking on a FIFO or a device swapped
// in after a check: O_NOFOLLOW|O_NONBLOCK, then the open file must be a
// regular file, which O_NONBLOCK does not change.
func (d *dir) openRegular(name string) (*regularFile, *unix.Stat_t, error) {
	p := filepath.Join(d.path, name)
	fd, err := unix.Openat(d.fd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ELOOP) {
		return nil, nil, errors.New("target is not a regular file (symlink)")
	}
	if err != nil {
		return nil, nil, &fs.PathError{Op: "open", Path: p, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, nil, &fs.PathError{Op: "stat", Path: p, Err: err}
	}
	if t := fileType(st.Mode); t != "" {
		unix.Close(fd)
		return nil, nil, fmt.Errorf("target is not a regular file (%s)", t)
	}
	return &regularFile{fd: fd, path: p}, &st, nil
}

// regularFile is a file openRegular opened, read with read(2) on its
// descriptor: an os.File would first ask for its flags (fcntl) and, for
// O_NONBLOCK, clear them and try the poller, three system calls more per
// read of a sink file for nothing.
type regularFile struct {
	fd   int
	path string
}

func (f *regularFile) Read(p []byte) (int, error) {
	for {
		n, err := unix.Read(f.fd, p)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return 0, &fs.PathError{Op: "read", Path: f.path, Err: err}
		case n == 0 && len(p) > 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

func (f *regularFile) Close() error { return unix.Close(f.fd) }

// Fd and Name make it a markedFile.
func (f *regularFile) Fd() uintptr  { return uintptr(f.fd) }
func (f *regularFile) Name() string { return f.path }

// fileType names the type of a file that is not regular, "" for a regular one.
func fileType[M uint16 | uint32](m M) string {
	switch uint32(m) & unix.S_IFMT {
	case unix.S_IFREG:
		return ""
	case unix.S_IFDIR:
		return "directory"
	case unix.S_IFLNK:
		return "symlink"
	case unix.S_IFIFO:
		return "named pipe"
	case unix.S_IFSOCK:
		return "socket"
	case unix.S_IFCHR:
		return "character device"
	case unix.S_IFBLK:
		return "block device"
	}
	return "unknown type"
}

// create makes a new file name in d, refusing an existing name or a symlink.
func (d *dir) create(name string) (*os.File, error) {
	fd, err := unix.Openat(d.fd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, &fs.PathError{Op: "create", Path: filepath.Join(d.path, name), Err: err}
	}
	return os.NewFile(uintptr(fd), filepath.Join(d.path, name)), nil
}

// remove unlinks name in d (a symlink itself, never what it points to).
func (d *dir) remove(name string) error {
	if err := unix.Unlinkat(d.fd, name, 0); err != nil {
		return &fs.PathError{Op: "remove", Path: filepath.Join(d.path, name), Err: err}
	}
	return nil
}

// rename renames old to new, both in d.
func (d *dir) rename(old, new string) error {
	if err := unix.Renameat(d.fd, old, d.fd, new); err != nil {
		return &os.LinkError{Op: "rename", Old: filepath.Join(d.path, old), New: filepath.Join(d.path, new), Err: err}
	}
	return nil
}

// sync makes the directory's entries durable.
func (d *dir) sync() error {
	if err := unix.Fsync(d.fd); err != nil {
		return fmt.Errorf("sync directory %s: %w", d.path, err)
	}
	return nil
}

// entries lists the entries of d through a descriptor of its own, so the
// listing does not move d's offset.
func (d *dir) entries() ([]fs.DirEntry, error) {
	fd, err := unix.Openat(d.fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: d.path, Err: err}
	}
	f := os.NewFile(uintptr(fd), d.path)
	defer f.Close()
	return f.ReadDir(-1)
}
