//go:build linux

package file

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestProbeReusedWithinADirectory: the names of one directory share one
// temp-file probe; a change of the directory's mode, another directory,
// the end of probeReuse, and a failed probe each make the next probe
// create its temp file again. Each name's own target is still checked.
func TestProbeReusedWithinADirectory(t *testing.T) {
	root := t.TempDir()
	a, b := filepath.Join(root, "a"), filepath.Join(root, "b")
	for _, d := range []string{a, b} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	s := newSink(t, root, FormatEnv, func(o *Options) { o.Path = pathTemplate(t, root+"/{{.Name}}.cred") })
	ctx := context.Background()
	probe := func(name string) error {
		t.Helper()
		return s.Probe(ctx, name)
	}
	want := func(n int, after string) {
		t.Helper()
		if got := s.probed.count(); got != n {
			t.Fatalf("after %s: %d temp-file probes, want %d", after, got, n)
		}
	}
	for _, name := range []string{"a/one", "a/two", "a/three"} {
		if err := probe(name); err != nil {
			t.Fatal(err)
		}
	}
	want(1, "three names in a")
	if err := probe("b/one"); err != nil {
		t.Fatal(err)
	}
	want(2, "a name in b")
	// The target is still checked for each name.
	if err := os.Mkdir(filepath.Join(a, "four.cred"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := probe("a/four"); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("probe of a directory target: %v", err)
	}
	want(2, "a target that is a directory")
	// A new mode: probed again.
	if err := os.Chmod(a, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := probe("a/one"); err != nil {
		t.Fatal(err)
	}
	want(3, "chmod of a")
	// The directory replaced by another of the same name and mode.
	if err := os.Rename(a, filepath.Join(root, "old-a")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(a, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := probe("a/one"); err != nil {
		t.Fatal(err)
	}
	want(4, "a replaced")
	// Past probeReuse.
	defer func(d time.Duration) { probeReuse = d }(probeReuse)
	probeReuse = time.Millisecond
	time.Sleep(5 * time.Millisecond)
	if err := probe("a/one"); err != nil {
		t.Fatal(err)
	}
	want(5, "probeReuse passed")
	if n := len(dirNames(t, a)); n != 0 {
		t.Errorf("the probes left %d files in a", n)
	}
}

// TestProbeNotReusedAfterAFailure: a failed temp-file probe is not
// remembered, and a test's injected failures see every probe.
func TestProbeNotReusedAfterAFailure(t *testing.T) {
	dir := t.TempDir()
	s := newSink(t, dir, FormatEnv)
	ctx := context.Background()
	if err := s.Probe(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	fail := true
	s.inject = func(step string) error {
		if fail && step == "create" {
			return os.ErrPermission
		}
		return nil
	}
	if err := s.Probe(ctx, "k"); err == nil {
		t.Fatal("an injected failure was skipped by a reused probe")
	}
	fail = false
	if err := s.Probe(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if got := s.probed.count(); got != 3 {
		t.Errorf("%d temp-file probes, want 3", got)
	}
}

// TestProbeCacheForgetsExpiredDirectories: with a directory per name, the
// map holds the directories of about one probeReuse, swept at most once
// per period.
func TestProbeCacheForgetsExpiredDirectories(t *testing.T) {
	var c probeCache
	start := time.Now()
	for i := range 1000 {
		at := start.Add(time.Duration(i) * probeReuse / 100) // 100 per period
		c.ran(probedDir{ino: uint64(i)}, true, true, at, at)
	}
	if n := len(c.last); n > 200 {
		t.Errorf("%d directories remembered, want at most two periods' worth (200)", n)
	}
	if !c.fresh(probedDir{ino: 999}, start.Add(999*probeReuse/100)) || c.fresh(probedDir{ino: 0}, start.Add(999*probeReuse/100)) {
		t.Error("the newest directory should be fresh and the oldest not")
	}
}

// TestSharedProbeName: only portable names whose temp file name fits.
func TestSharedProbeName(t *testing.T) {
	for base, want := range map[string]bool{
		"ci-runner.json":            true,
		"A_b.0-9":                   true,
		"with space":                false,
		"colon:name":                false,
		"ü":                         false,
		strings.Repeat("x", 255-22): true,
		strings.Repeat("x", 255-21): false,
	} {
		if got := sharedProbeName(base, 255); got != want {
			t.Errorf("sharedProbeName(%q) = %v, want %v", base, got, want)
		}
	}
}
