package file

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// ErrProtected means a key's name renders a target that is one of
// rotatord's own files (Options.Protect): the sink refuses it before it
// writes anything, so the rotation of that name fails and its old key
// stays.
var ErrProtected = errors.New("a sink never writes rotatord's own files")

// Protected is a path no write of a sink may reach, whatever a key's name
// renders to: rotatord's own credential files (overwritten, rotatord
// would sign with a key it does not own, and its own key would live on
// held by nobody) and its state directory.
type Protected struct {
	// Path is absolute.
	Path string
	// Dir protects the directory and everything beneath it; otherwise
	// only the file at Path.
	Dir bool
	// What says what the path is, for the error: "the credential file of
	// account default", "the state directory".
	What string
}

// maxDepth bounds the walk up from a sink's directory to "/".
const maxDepth = 4096

// checkProtected refuses a target (base in the open directory d, path as
// rendered) that is a protected path. A rendered path is clean, so the
// paths are first compared as text; then by device and inode, what the
// open directory and the protected paths are now, so that neither a
// symlinked directory on either path nor a hard link dodges the check.
// A protected path that does not exist is compared as text only; where
// the directories above the target cannot be told, the write is refused.
func (s *Sink) checkProtected(d *dir, path, base string) error {
	if len(s.protect) == 0 {
		return nil
	}
	var dirSt unix.Stat_t
	if err := unix.Fstat(d.fd, &dirSt); err != nil {
		return fmt.Errorf("stat %s: %w", d.path, err)
	}
	target, err := d.stat(base)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	var ancestors []unix.Stat_t // d and its parents up to "/", walked once when needed
	for _, p := range s.protect {
		clean := filepath.Clean(p.Path)
		if p.Dir {
			inside := within(path, clean)
			if !inside {
				if inside, err = p.dirHolds(d, &dirSt, target, &ancestors); err != nil {
					return err
				}
			}
			if inside {
				return fmt.Errorf("the target is inside %s %s: %w", p.What, clean, ErrProtected)
			}
			continue
		}
		if path == clean {
			return fmt.Errorf("the target is %s: %w", p.What, ErrProtected)
		}
		if sameFileAs(clean, &dirSt, base, target) {
			return fmt.Errorf("the target is %s %s: %w", p.What, clean, ErrProtected)
		}
	}
	return nil
}

// within reports whether path is dir or beneath it, as text.
func within(path, dir string) bool {
	return path == dir || strings.HasPrefix(path, strings.TrimSuffix(dir, "/")+"/")
}

// sameFileAs reports whether base in the directory dirSt is the file at
// protected: the same name in the same directory (it may not exist yet),
// or the same inode (a hard link, or the file a symlink of the protected
// path points to).
func sameFileAs(protected string, dirSt *unix.Stat_t, base string, target *unix.Stat_t) bool {
	if base == filepath.Base(protected) {
		if pd, err := os.Stat(filepath.Dir(protected)); err == nil && sameInode(dirSt, pd) {
			return true
		}
	}
	if target != nil {
		if pf, err := os.Stat(protected); err == nil && sameInode(target, pf) {
			return true
		}
	}
	return false
}

// dirHolds reports whether the protected directory p is d or one of its
// parents, or the target itself.
func (p Protected) dirHolds(d *dir, dirSt, target *unix.Stat_t, ancestors *[]unix.Stat_t) (bool, error) {
	pd, err := os.Stat(p.Path)
	if err != nil {
		return false, nil // compared as text only
	}
	if target != nil && sameInode(target, pd) {
		return true, nil
	}
	if *ancestors == nil {
		if *ancestors, err = parents(d.fd, dirSt); err != nil {
			// Fail closed: a write that cannot be placed waits.
			return false, fmt.Errorf("cannot tell whether %s is inside %s %s: %w", d.path, p.What, p.Path, err)
		}
	}
	for i := range *ancestors {
		if sameInode(&(*ancestors)[i], pd) {
			return true, nil
		}
	}
	return false, nil
}

// parents returns the directory fd (whose stat is st) and each of its
// parents up to "/", found through "..": the directories the sink's
// directory is really beneath, whatever symlinks its path went through.
func parents(fd int, st *unix.Stat_t) ([]unix.Stat_t, error) {
	out := []unix.Stat_t{*st}
	at := fd // the caller's; each parent opened here is closed here
	defer func() {
		if at != fd {
			unix.Close(at)
		}
	}()
	for range maxDepth {
		up, err := openParent(at)
		if err != nil {
			return nil, fmt.Errorf("open parent directory: %w", err)
		}
		if at != fd {
			unix.Close(at)
		}
		at = up
		var ust unix.Stat_t
		if err := unix.Fstat(up, &ust); err != nil {
			return nil, fmt.Errorf("stat parent directory: %w", err)
		}
		last := &out[len(out)-1]
		if ust.Dev == last.Dev && ust.Ino == last.Ino {
			return out, nil // "/" is its own parent
		}
		out = append(out, ust)
	}
	return nil, fmt.Errorf("more than %d directories deep", maxDepth)
}

// sameInode reports whether st and fi are the same file.
func sameInode(st *unix.Stat_t, fi os.FileInfo) bool {
	sys, ok := fi.Sys().(*syscall.Stat_t)
	return ok && uint64(sys.Dev) == uint64(st.Dev) && uint64(sys.Ino) == uint64(st.Ino)
}
