package pathwalk

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// walked returns the entries Walk shows below root, relative to it,
// links marked with "@".
func walked(t *testing.T, root, path string) ([]string, error) {
	t.Helper()
	var got []string
	err := Walk(path, func(s Step) error {
		if rel, ok := strings.CutPrefix(s.Path, root+"/"); ok {
			if s.IsLink() {
				rel += "@"
			}
			got = append(got, rel)
		}
		return nil
	})
	return got, err
}

func mustMkdir(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(p, 0o700); err != nil {
		t.Fatal(err)
	}
}

func mustLink(t *testing.T, target, p string) {
	t.Helper()
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
}

func TestWalkFollowsLinksInKernelOrder(t *testing.T) {
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	mustMkdir(t, filepath.Join(root, "a/b/c"))
	mustLink(t, "a/b", filepath.Join(root, "rel"))
	mustLink(t, filepath.Join(root, "rel"), filepath.Join(root, "abs"))

	got, err := walked(t, root, filepath.Join(root, "abs/c"))
	if err != nil {
		t.Fatal(err)
	}
	// The absolute link restarts from "/", the relative one from the
	// link's directory; both are shown before they are followed.
	want := []string{"abs@", "rel@", "a", "a/b", "a/b/c"}
	if !slices.Equal(got, want) {
		t.Fatalf("walked %q, want %q", got, want)
	}
}

func TestWalkDotDotAfterLinkIsThePhysicalParent(t *testing.T) {
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	mustMkdir(t, filepath.Join(root, "d1/d2"))
	mustMkdir(t, filepath.Join(root, "d1/x"))
	mustLink(t, "d1/d2", filepath.Join(root, "l"))

	got, err := walked(t, root, root+"/l/../x") // not Join: it would clean the ".." away
	if err != nil {
		t.Fatal(err)
	}
	// Lexically l/../x is root/x, which does not exist; the kernel
	// goes from d1/d2 up to d1.
	want := []string{"l@", "d1", "d1/d2", "d1/x"}
	if !slices.Equal(got, want) {
		t.Fatalf("walked %q, want %q", got, want)
	}
}

func TestWalkRefusesALinkLoop(t *testing.T) {
	root := t.TempDir()
	mustLink(t, "b", filepath.Join(root, "a"))
	mustLink(t, "a", filepath.Join(root, "b"))
	if _, err := walked(t, root, filepath.Join(root, "a/x")); !errors.Is(err, ErrTooManyLinks) {
		t.Fatalf("walk of a loop: %v, want ErrTooManyLinks", err)
	}
}

func TestWalkEndsAtAMissingEntry(t *testing.T) {
	root := t.TempDir()
	got, err := walked(t, root, filepath.Join(root, "missing/deeper"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("walk to a missing entry: %v, want fs.ErrNotExist", err)
	}
	if len(got) != 0 {
		t.Fatalf("walked %q past a missing entry", got)
	}
}

func TestWalkStopsWhenTold(t *testing.T) {
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	mustMkdir(t, filepath.Join(root, "a/b"))
	var seen []string
	err = Walk(filepath.Join(root, "a/b"), func(s Step) error {
		seen = append(seen, s.Path)
		if s.Path == filepath.Join(root, "a") {
			return Stop
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Stop ended the walk with %v", err)
	}
	if last := seen[len(seen)-1]; last != filepath.Join(root, "a") {
		t.Fatalf("walk went on to %s after Stop", last)
	}
	if seen[0] != "/" {
		t.Fatalf("first entry %s, want /", seen[0])
	}

	refusal := errors.New("refused")
	err = Walk(filepath.Join(root, "a/b"), func(Step) error { return refusal })
	if !errors.Is(err, refusal) {
		t.Fatalf("visit's error: walk returned %v", err)
	}
}
