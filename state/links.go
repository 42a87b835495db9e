package state

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"

	"github.com/rotatord/rotatord/internal/pathwalk"
	"github.com/rotatord/rotatord/internal/posixacl"
)

// CheckPath refuses a state directory that someone other than root or
// rotatord's user could move elsewhere. The store works on its directory
// by path (each checkpoint, each new log), so whoever can rename an entry
// of a directory on that path can take the journal away (a pass then
// starts from an empty one, forgetting the rotations in flight) or put a
// directory of theirs in its place and write the records rotatord acts
// on. dir is absolute. From "/", one component at a time:
//
//   - a symlink is followed only if root or rotatord's user owns it (the
//     rule of a sink's directory): a link another user made could point
//     the journal at any directory root owns, a stale copy of it included;
//   - every directory reached must be owned by root or rotatord's user,
//     and writable by others only with the sticky bit (as /tmp): by all
//     users, or by a group other than root's and rotatord's (its
//     effective or supplementary groups).
//
// The walk stops at the first component that does not exist: what is
// missing is created 0700 by rotatord.
func CheckPath(dir string) error { return checkPath(dir, -1) }

// checkPath is CheckPath that also trusts owner (when >= 0) with the
// directories on the path, not with symlinks. A reader (OpenReadOnly:
// plan, state export, often run as root) passes the state directory's
// owner, the daemon's user: whoever owns the directory can write its
// records anyway, so also being able to move it gives them nothing.
// Not where any user may create directories (sticky, as /tmp): there a
// directory is its maker's, and the maker need not be the daemon's user.
func checkPath(dir string, owner int) error {
	euid, egid := os.Geteuid(), os.Getegid()
	// rotatord's supplementary groups count as its own: a Kubernetes
	// fsGroup (the volume's group) is one when runAsGroup is not.
	groups, _ := os.Getgroups()
	ownGroup := func(gid int) bool { return gid == 0 || gid == egid || slices.Contains(groups, gid) }
	// checkACL judges the group bits, or with a POSIX access ACL (whose
	// mask the group bits are) its entries, as the sink directories'
	// rule does: a named user or group, or the owning group, that may
	// write must be root's or rotatord's.
	checkACL := func(at string, gid int, mode fs.FileMode) error {
		groupErr := func(g int) error {
			return fmt.Errorf("state dir %s: directory %s on its path is writable by group %d (mode %04o), neither root's nor one of rotatord's (gid %d): its members could move the state directory away or replace it",
				dir, at, g, mode.Perm(), egid)
		}
		acl, err := posixacl.LGet(at)
		if err != nil {
			return fmt.Errorf("state dir %s: directory %s on its path: read its ACL: %w", dir, at, err)
		}
		for _, w := range posixacl.GroupClassWriters(uint32(mode.Perm()), gid, acl) {
			switch {
			case w.Tag == posixacl.GroupObj && !ownGroup(w.ID):
				return groupErr(w.ID)
			case w.Tag == posixacl.Group && !ownGroup(w.ID):
				return fmt.Errorf("state dir %s: directory %s on its path has an ACL that lets group %d write, neither root's nor one of rotatord's (gid %d): its members could move the state directory away or replace it",
					dir, at, w.ID, egid)
			case w.Tag == posixacl.User && w.ID != 0 && w.ID != euid && w.ID != owner:
				return fmt.Errorf("state dir %s: directory %s on its path has an ACL that lets uid %d write, not root nor rotatord's user (uid %d): that user could move the state directory away or replace it",
					dir, at, w.ID, euid)
			}
		}
		return nil
	}
	checkDir := func(at string, fi fs.FileInfo) error {
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		mode := fi.Mode()
		if st.Uid != 0 && int(st.Uid) != euid && int(st.Uid) == owner && at != "/" {
			// Trusted as the state directory's owner only if root, or
			// that owner, made it: in a directory where any user may
			// create entries (sticky, as /tmp), whoever made it owns it.
			if pfi, err := os.Lstat(filepath.Dir(at)); err == nil {
				if pst, ok := pfi.Sys().(*syscall.Stat_t); ok && int(pst.Uid) != owner &&
					pfi.Mode()&fs.ModeSticky != 0 && (pfi.Mode().Perm()&0o002 != 0 || pfi.Mode().Perm()&0o020 != 0 && !ownGroup(int(pst.Gid))) {
					return fmt.Errorf("state dir %s: directory %s on its path is owned by uid %d, not by root or this user (uid %d), in %s, where any user may create one (mode %04o, sticky): it may have been planted",
						dir, at, st.Uid, euid, filepath.Dir(at), pfi.Mode().Perm())
				}
			}
		}
		switch {
		case st.Uid != 0 && int(st.Uid) != euid && int(st.Uid) != owner:
			return fmt.Errorf("state dir %s: directory %s on its path is owned by uid %d, not by root or rotatord's user (uid %d): its owner could move the state directory away or replace it",
				dir, at, st.Uid, euid)
		case mode&fs.ModeSticky != 0:
		case mode.Perm()&0o002 != 0:
			return fmt.Errorf("state dir %s: directory %s on its path is writable by all users (mode %04o) without the sticky bit: anyone could move the state directory away or replace it",
				dir, at, mode.Perm())
		default:
			return checkACL(at, int(st.Gid), mode)
		}
		return nil
	}
	var refused error // what the rule refused, named in full already
	err := pathwalk.Walk(dir, func(s pathwalk.Step) error {
		switch {
		case s.Info.IsDir():
			refused = checkDir(s.Path, s.Info)
			return refused
		case !s.IsLink():
			// Not a directory: Open's MkdirAll says so.
			return pathwalk.Stop
		}
		if st, ok := s.Info.Sys().(*syscall.Stat_t); ok && st.Uid != 0 && int(st.Uid) != euid {
			refused = fmt.Errorf("state dir %s: %s is a symlink owned by uid %d: only symlinks owned by root or rotatord's user (uid %d) are followed, as another user may have planted it",
				dir, s.Path, st.Uid, euid)
		}
		return refused
	})
	switch {
	case refused != nil:
		return refused
	case err == nil, errors.Is(err, fs.ErrNotExist):
		// What is missing is created 0700 by rotatord.
		return nil
	}
	return fmt.Errorf("state dir %s: %w", dir, err)
}
