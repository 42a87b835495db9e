// Package pathwalk owns the walk of a path as the kernel resolves it: one
// component at a time from "/", each symbolic link read and its target put
// in front of the components still to come. It shows every entry it
// reaches to a caller that judges it; the state directory's rule
// (state.CheckPath) and the hooks' rule for links in sticky directories
// share the walk and differ only in what they refuse.
package pathwalk

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// MaxLinks bounds the symbolic links one walk follows, like the
// kernel's limit of 40 (ELOOP).
const MaxLinks = 40

// ErrTooManyLinks ends a walk that met more than MaxLinks symbolic links
// (a loop, or a chain longer than the kernel would follow).
var ErrTooManyLinks = fmt.Errorf("more than %d symbolic links", MaxLinks)

// Stop, returned by a visit, ends the walk without an error.
var Stop = errors.New("pathwalk: stop")

// Step is one entry the walk reached.
type Step struct {
	// Path is the entry: Dir joined with the component.
	Path string
	// Dir is the directory the entry is in. It holds no symbolic link:
	// every one before it was resolved.
	Dir string
	// Info is the entry's Lstat: a symbolic link is shown as itself,
	// before the walk follows it.
	Info fs.FileInfo
}

// IsLink reports whether the entry is a symbolic link.
func (s Step) IsLink() bool { return s.Info.Mode()&fs.ModeSymlink != 0 }

// Walk resolves path (absolute; a relative one is read from "/") and
// calls visit with "/" first, then with each entry reached, links
// included, in the order the kernel would meet them. A ".." goes to the
// physical parent, as the kernel's does. The walk ends with visit's
// error (nil for Stop), with ErrTooManyLinks, or with the error of an
// entry it cannot read (fs.ErrNotExist for one that does not exist:
// errors.Is tells).
func Walk(path string, visit func(Step) error) error {
	fi, err := os.Lstat("/")
	if err != nil {
		return err
	}
	if err := visit(Step{Path: "/", Dir: "/", Info: fi}); err != nil {
		return stopped(err)
	}
	rest := strings.Split(path, "/")
	cur := "/"
	links := 0
	for len(rest) > 0 {
		c := rest[0]
		rest = rest[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			cur = filepath.Dir(cur)
			continue
		}
		next := filepath.Join(cur, c)
		fi, err := os.Lstat(next)
		if err != nil {
			return err
		}
		step := Step{Path: next, Dir: cur, Info: fi}
		if err := visit(step); err != nil {
			return stopped(err)
		}
		if !step.IsLink() {
			cur = next
			continue
		}
		if links++; links > MaxLinks {
			return ErrTooManyLinks
		}
		to, err := os.Readlink(next)
		if err != nil {
			return err
		}
		if filepath.IsAbs(to) {
			cur = "/"
		}
		rest = append(strings.Split(to, "/"), rest...)
	}
	return nil
}

func stopped(err error) error {
	if errors.Is(err, Stop) {
		return nil
	}
	return err
}
