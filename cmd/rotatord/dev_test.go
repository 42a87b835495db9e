package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rotatord/rotatord/state"
)

// runDev runs `rotatord dev` in dir for a moment.
func runDev(t *testing.T, dir string) error {
	t.Helper()
	return cmdDev([]string{"--dir", dir, "--duration", "1ms", "--web.listen-address", "127.0.0.1:0", "--log.level", "error"}, io.Discard, io.Discard)
}

// cmdDev runs `rotatord dev ARGS...` in-process.
func cmdDev(args []string, stdout, stderr io.Writer) error {
	c := newCLI(stdout, stderr)
	if _, err := c.app.Parse(append([]string{"dev"}, args...)); err != nil {
		return err
	}
	return c.cmdDev(context.Background(), nil)
}

// parseDev parses `rotatord dev ARGS...` for an in-process run of cmdDev.
func parseDev(t *testing.T, stdout, stderr io.Writer, args ...string) *cli {
	t.Helper()
	c := newCLI(stdout, stderr)
	if cmd, err := c.app.Parse(append([]string{"dev"}, args...)); err != nil || cmd != "dev" {
		t.Fatalf("parse dev %q: %q, %v", args, cmd, err)
	}
	return c
}

// TestDevDoesNotWriteThroughSymlinks: symlinks in an existing demo
// directory are replaced, never written through (issue 11).
func TestDevDoesNotWriteThroughSymlinks(t *testing.T) {
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "dev")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	victim := filepath.Join(tmp, "victim")
	if err := os.WriteFile(victim, []byte("precious\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A demo directory: it holds dev's marker (without it, dev refuses
	// a folder holding files of those names).
	if err := os.WriteFile(filepath.Join(dir, devLockName), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"admin-secret", "policy.yml"} {
		if err := os.Symlink(victim, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := runDev(t, dir); err != nil {
		t.Fatalf("dev: %v", err)
	}
	if b, err := os.ReadFile(victim); err != nil || string(b) != "precious\n" {
		t.Errorf("the symlink's target now holds %q (%v)", b, err)
	}
	for _, name := range []string{"admin-secret", "policy.yml"} {
		fi, err := os.Lstat(filepath.Join(dir, name))
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, %v; want a regular file, mode 0600", name, fi, err)
		}
	}
}

// TestDevRefusesDirectoryOthersCanWrite: an existing demo directory other
// users can write, or a symlink in its place, is refused before anything
// is written (issue 11).
func TestDevRefusesDirectoryOthersCanWrite(t *testing.T) {
	for _, tt := range []struct {
		name string
		give func(t *testing.T, dir string)
		want string
	}{
		{name: "world writable", give: func(t *testing.T, dir string) { mkdirMode(t, dir, 0o777) }, want: "can be written by other users (mode 0777)"},
		{name: "sticky world writable", give: func(t *testing.T, dir string) { mkdirMode(t, dir, os.ModeSticky|0o777) }, want: "can be written by other users (mode 01777)"},
		{name: "group writable", give: func(t *testing.T, dir string) { mkdirMode(t, dir, 0o770) }, want: "can be written by other users (mode 0770)"},
		{name: "out world writable", give: func(t *testing.T, dir string) {
			mkdirMode(t, dir, 0o700)
			mkdirMode(t, filepath.Join(dir, "out"), 0o777)
		}, want: "out can be written by other users"},
		{name: "symlink", give: func(t *testing.T, dir string) {
			mkdirMode(t, dir+".real", 0o700)
			if err := os.Symlink(dir+".real", dir); err != nil {
				t.Fatal(err)
			}
		}, want: "is not a directory (a symlink is not followed"},
		{name: "another user's", give: func(t *testing.T, dir string) {
			if os.Geteuid() != 0 {
				t.Skip("needs root to give a directory to another user")
			}
			mkdirMode(t, dir, 0o755)
			if err := os.Chown(dir, 65534, 65534); err != nil {
				t.Fatal(err)
			}
		}, want: "belongs to uid 65534"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "dev")
			tt.give(t, dir)
			err := runDev(t, dir)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), dir) {
				t.Fatalf("dev = %v, want an error naming %s and containing %q", err, dir, tt.want)
			}
			for _, name := range []string{"admin-secret", "policy.yml"} {
				if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
					t.Errorf("dev wrote %s in a directory it refused", name)
				}
			}
		})
	}
}

func mkdirMode(t *testing.T, dir string, mode os.FileMode) {
	t.Helper()
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, mode); err != nil {
		t.Fatal(err)
	}
}

// startDev runs `rotatord dev ARGS...` in-process until the test ends and
// returns its banner once it is ready.
func startDev(t *testing.T, args ...string) (string, devInfo) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	c := parseDev(t, &stdout, &stderr, append([]string{"--log.level", "error"}, args...)...)
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan devInfo, 1)
	done := make(chan error, 1)
	go func() { done <- c.cmdDev(ctx, func(i devInfo) { ready <- i }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("dev: %v", err)
		}
	})
	select {
	case info := <-ready:
		return stdout.String(), info
	case err := <-done:
		done <- err
		t.Fatalf("dev ended before it was ready: %v\n%s", err, stderr.String())
	}
	return "", devInfo{}
}

// TestDevSecondFailsBeforeTheBanner: a second demo on the same port fails
// before printing anything or touching the first one's files (issue 12:
// it printed the whole banner, then failed on the port).
func TestDevSecondFailsBeforeTheBanner(t *testing.T) {
	tmp := t.TempDir()
	_, first := startDev(t, "--dir", filepath.Join(tmp, "one"), "--web.listen-address", "127.0.0.1:0")
	policy, err := os.ReadFile(first.policy)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, dir, listen string }{
		{"same port", filepath.Join(tmp, "two"), first.listen},
		{"same folder", first.dir, "127.0.0.1:0"},
	} {
		var stdout, stderr bytes.Buffer
		c := parseDev(t, &stdout, &stderr, "--dir", tt.dir, "--web.listen-address", tt.listen, "--duration", "1s")
		err := c.cmdDev(context.Background(), nil)
		if err == nil || stdout.Len() != 0 {
			t.Errorf("%s: second dev = %v, stdout %q; want an error and no banner", tt.name, err, stdout.String())
		}
		if after, _ := os.ReadFile(first.policy); !bytes.Equal(after, policy) {
			t.Errorf("%s: the second dev rewrote the first one's policy file", tt.name)
		}
	}
	if _, err := os.Stat(filepath.Join(tmp, "two")); err == nil {
		t.Error("the second dev on a busy port created its folder")
	}
}

// TestDevBannerCommandsWork: every command the banner suggests works while
// the demo runs, as printed (issue 12: once failed on the daemon's state
// lock).
func TestDevBannerCommandsWork(t *testing.T) {
	banner, info := startDev(t, "--dir", filepath.Join(t.TempDir(), "demo"), "--web.listen-address", "127.0.0.1:0")
	var cmds [][]string
	for _, line := range strings.Split(banner, "\n") {
		if rest, ok := strings.CutPrefix(line, "  go run ./cmd/rotatord "); ok {
			cmds = append(cmds, strings.Fields(rest))
		}
	}
	if len(cmds) != 3 || cmds[0][0] != "plan" || cmds[1][0] != "validate" || cmds[2][0] != "once" {
		t.Fatalf("banner commands %q, want plan, validate and once:\n%s", cmds, banner)
	}
	if !strings.Contains(banner, "http://"+info.listen+"/metrics") {
		t.Errorf("banner does not show the metrics address %s:\n%s", info.listen, banner)
	}
	for _, args := range cmds {
		code, stdout, stderr := runCLI(append(args, "--log.level=error")...)
		if code != 0 {
			t.Errorf("rotatord %q = %d while dev runs:\n%s\n%s", args, code, stdout, stderr)
		}
		if args[0] == "once" && !regexp.MustCompile(`try\s+try-once\s+1\s+rotate\s+rotated`).MatchString(stdout) {
			t.Errorf("once on the demo:\n%s\nwant try-once rotated", stdout)
		}
	}
	// once's key is not the daemon's: it has the new key, and the daemon's
	// state knows nothing of it.
	if _, err := os.Stat(filepath.Join(info.dir, "out", "try-once.json")); err != nil {
		t.Errorf("once delivered nothing: %v", err)
	}
	for _, st := range []struct {
		dir  string
		want bool
	}{{"state", false}, {"once-state", true}} {
		journal, err := state.OpenReadOnly(filepath.Join(info.dir, st.dir))
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, r := range journal.List("") {
			found = found || r.Name == "try-once"
		}
		if found != st.want {
			t.Errorf("a record of try-once in %s/: %v, want %v", st.dir, found, st.want)
		}
	}
}
