package state

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// maxLinks bounds the symlinks CheckLinks follows, like the kernel's
// limit of 40 (ELOOP).
const maxLinks = 40

// CheckLinks refuses a state directory reached through a symlink that
// someone other than root or rotatord's user owns: a user who owns a
// directory on the path could otherwise point the journal (its records,
// its lock) at any directory root owns, a stale copy of the journal
// included, whose records rotatord would act on. It is the rule a sink's
// directory follows: only links root or rotatord's user made are
// followed. dir is absolute. The walk stops at the first component that
// does not exist: what is missing is created as plain directories.
func CheckLinks(dir string) error {
	euid := os.Geteuid()
	todo := strings.Split(dir, "/")
	at := "/"
	links := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			// at has no symlink in it: its parent is the physical one.
			at = filepath.Dir(at)
			continue
		}
		here := filepath.Join(at, c)
		fi, err := os.Lstat(here)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("state dir %s: %w", dir, err)
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			at = here
			continue
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != 0 && int(st.Uid) != euid {
			return fmt.Errorf("state dir %s: %s is a symlink owned by uid %d: only symlinks owned by root or rotatord's user (uid %d) are followed, as another user may have planted it",
				dir, here, st.Uid, euid)
		}
		if links++; links > maxLinks {
			return fmt.Errorf("state dir %s: more than %d symlinks", dir, maxLinks)
		}
		target, err := os.Readlink(here)
		if err != nil {
			return fmt.Errorf("state dir %s: %w", dir, err)
		}
		todo = append(strings.Split(target, "/"), todo...)
		if filepath.IsAbs(target) {
			at = "/"
		}
	}
	return nil
}
