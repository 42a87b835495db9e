//go:build linux

package file

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rotatord/rotatord/internal/posixacl"
	"github.com/rotatord/rotatord/sinks"
)

// Tests of issue 11, "Sink paths": rotatord runs as root, and whoever owns
// a directory on a sink's path can plant symlinks and swap files.

// nobody is the uid and gid of "another user" in these tests.
const nobody = 65534

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to give files to another user")
	}
}

// bothResolvers runs f with openat2 first, then with the component walk only.
func bothResolvers(t *testing.T, f func(t *testing.T)) {
	for _, walk := range []bool{false, true} {
		name := "openat2"
		if walk {
			name = "walk"
		}
		t.Run(name, func(t *testing.T) {
			old := noOpenat2.Load()
			noOpenat2.Store(walk)
			t.Cleanup(func() { noOpenat2.Store(old) })
			f(t)
		})
	}
}

func mkdir(t *testing.T, path string, mode os.FileMode) string {
	t.Helper()
	if err := os.Mkdir(path, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // past the umask
		t.Fatal(err)
	}
	return path
}

// plant makes a symlink at link to target owned by uid, as if that user
// had made it.
func plant(t *testing.T, target, link string, uid int) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(link, uid, uid); err != nil {
		t.Fatal(err)
	}
}

// allOps runs every operation of s for name k and returns their errors.
func allOps(s *Sink) map[string]error {
	ctx := context.Background()
	c := cred("k", "EXO1", testSecret)
	_, readErr := s.Read(ctx, "k")
	_, fpErr := s.CurrentFingerprint(ctx, "k")
	return map[string]error{
		"Probe":              s.Probe(ctx, "k"),
		"Write":              s.Write(ctx, c),
		"Verify":             s.Verify(ctx, c),
		"Read":               readErr,
		"CurrentFingerprint": fpErr,
	}
}

// wantRefused checks that every operation failed with an error containing
// each of want, and no secret.
func wantRefused(t *testing.T, errs map[string]error, want ...string) {
	t.Helper()
	for op, err := range errs {
		if err == nil {
			t.Errorf("%s succeeded, want a refusal", op)
			continue
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s error = %v, want it to contain %q", op, err, w)
			}
		}
		if errors.Is(err, sinks.ErrNotHeld) {
			t.Errorf("%s error = %v: a refusal is not \"nothing held\"", op, err)
		}
		if strings.Contains(err.Error(), testSecret) {
			t.Errorf("%s error contains the secret", op)
		}
	}
}

// TestSymlinkPlantedByAnotherUser: a user who owns a directory on a sink's
// path points a symlink at a root-only directory; rotatord must not write,
// chown or delete anything there. Before the fix only the last component
// was checked, with os.Stat, which follows the link.
func TestSymlinkPlantedByAnotherUser(t *testing.T) {
	needRoot(t)
	bothResolvers(t, func(t *testing.T) {
		for _, tt := range []struct {
			name string
			link string // under alice's directory
			path string // the sink directory, under alice's directory
		}{
			{name: "last component", link: "out", path: "out"},
			{name: "middle component", link: "mid", path: "mid/creds"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				tmp := t.TempDir()
				victim := mkdir(t, filepath.Join(tmp, "rootonly"), 0o700)
				mkdir(t, filepath.Join(victim, "creds"), 0o700)
				alice := mkdir(t, filepath.Join(tmp, "alice"), 0o755)
				if err := os.Chown(alice, nobody, nobody); err != nil {
					t.Fatal(err)
				}
				// alice/out is victim; alice/mid/creds is victim/creds.
				plant(t, victim, filepath.Join(alice, tt.link), nobody)
				s := newSink(t, filepath.Join(alice, tt.path), FormatJSON, func(o *Options) { o.UID = os.Getuid() })
				wantRefused(t, allOps(s), filepath.Join(alice, tt.link)+" is a symlink owned by uid 65534")
				if names := dirNames(t, victim); !slices.Equal(names, []string{"creds"}) {
					t.Errorf("rotatord wrote into %s through the planted symlink: %q", victim, names)
				}
				if names := dirNames(t, filepath.Join(victim, "creds")); len(names) != 0 {
					t.Errorf("rotatord wrote into %s/creds through the planted symlink: %q", victim, names)
				}
			})
		}
	})
}

// TestTrustedSymlinksFollowed: symlinks owned by root or rotatord's user
// are followed, relative, absolute and with "..", up to 40 of them.
func TestTrustedSymlinksFollowed(t *testing.T) {
	bothResolvers(t, func(t *testing.T) {
		tmp := t.TempDir()
		real := mkdir(t, filepath.Join(tmp, "real"), 0o700)
		mkdir(t, filepath.Join(tmp, "a"), 0o700)
		links := map[string]string{
			"rel":     "real",
			"abs":     real,
			"a/up":    "../real",
			"a/chain": "../rel",
		}
		for link, target := range links {
			if err := os.Symlink(target, filepath.Join(tmp, link)); err != nil {
				t.Fatal(err)
			}
		}
		for link := range links {
			s := newSink(t, filepath.Join(tmp, link), FormatEnv, func(o *Options) {
				o.Path = pathTemplate(t, filepath.Join(tmp, link)+"/"+strings.ReplaceAll(link, "/", "-")+"-{{.Name}}")
			})
			c := cred("k", "EXO1", testSecret)
			if err := s.Write(context.Background(), c); err != nil {
				t.Errorf("Write through %s: %v", link, err)
				continue
			}
			if err := s.Verify(context.Background(), c); err != nil {
				t.Errorf("Verify through %s: %v", link, err)
			}
			if _, err := os.Stat(filepath.Join(real, strings.ReplaceAll(link, "/", "-")+"-k")); err != nil {
				t.Errorf("the file written through %s is not in %s: %v", link, real, err)
			}
		}
		// A loop of links ends.
		if err := os.Symlink("loop2", filepath.Join(tmp, "loop1")); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("loop1", filepath.Join(tmp, "loop2")); err != nil {
			t.Fatal(err)
		}
		s := newSink(t, filepath.Join(tmp, "loop1"), FormatEnv)
		if err := s.Probe(context.Background(), "k"); err == nil || !strings.Contains(err.Error(), "more than 40 symlinks") {
			t.Errorf("Probe through a symlink loop = %v, want a refusal", err)
		}
	})
}

// aclXattr encodes a POSIX access ACL giving the owner rwx, uid user rwx,
// the group r-x, others nothing and the mask mask.
func aclXattr(user, mask int) []byte {
	b := binary.LittleEndian.AppendUint32(nil, 2)
	for _, e := range [][3]int{
		{posixacl.UserObj, 7, -1}, {posixacl.User, 7, user}, {posixacl.GroupObj, 5, -1}, {posixacl.Mask, mask, -1}, {posixacl.Other, 0, -1},
	} {
		b = binary.LittleEndian.AppendUint16(b, uint16(e[0]))
		b = binary.LittleEndian.AppendUint16(b, uint16(e[1]))
		b = binary.LittleEndian.AppendUint32(b, uint32(e[2]))
	}
	return b
}

// TestDirectoryOthersCanWrite: a sink directory that users other than root,
// rotatord's user and the sink's owner and group can write is refused by
// every operation: they could plant files or symlinks in it.
func TestDirectoryOthersCanWrite(t *testing.T) {
	needRoot(t)
	tests := []struct {
		name string
		mode os.FileMode
		uid  int // -1 keeps root
		gid  int
		acl  []byte
		opts func(*Options)
		want string // "" for success
	}{
		{name: "root 0700", mode: 0o700, uid: -1, gid: -1},
		{name: "root 0755", mode: 0o755, uid: -1, gid: -1},
		{name: "owned by another user", mode: 0o700, uid: nobody, gid: -1, want: "is owned by uid 65534"},
		{name: "owned by the sink's owner", mode: 0o700, uid: nobody, gid: -1, opts: func(o *Options) { o.UID = nobody }},
		{name: "world writable", mode: 0o777, uid: -1, gid: -1, want: "writable by all users (mode 0777)"},
		{name: "world writable sticky", mode: os.ModeSticky | 0o777, uid: -1, gid: -1, want: "writable by all users (mode 01777)"},
		{name: "group writable, another group", mode: 0o770, uid: -1, gid: nobody, want: "writable by group 65534"},
		{name: "group writable, root's group", mode: 0o770, uid: -1, gid: 0},
		{name: "group writable, the sink's group", mode: 0o770, uid: -1, gid: nobody, opts: func(o *Options) { o.GID = nobody }},
		{name: "group readable, another group", mode: 0o750, uid: -1, gid: nobody},
		{name: "ACL lets another user write", mode: 0o700, uid: -1, gid: -1, acl: aclXattr(nobody, 7), want: "its ACL lets uid 65534 write"},
		{name: "ACL mask keeps another user from writing", mode: 0o700, uid: -1, gid: -1, acl: aclXattr(nobody, 5)},
		{name: "ACL lets the sink's owner write", mode: 0o700, uid: -1, gid: -1, acl: aclXattr(nobody, 7), opts: func(o *Options) { o.UID = nobody }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := mkdir(t, filepath.Join(t.TempDir(), "creds"), tt.mode)
			if err := os.Chown(dir, tt.uid, tt.gid); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, tt.mode); err != nil { // chown clears nothing on a directory, but be exact
				t.Fatal(err)
			}
			if tt.acl != nil {
				if err := unix.Setxattr(dir, "system.posix_acl_access", tt.acl, 0); err != nil {
					t.Skipf("no POSIX ACLs here: %v", err)
				}
			}
			opts := []func(*Options){func(o *Options) { o.UID = os.Getuid() }}
			if tt.opts != nil {
				opts = append(opts, tt.opts)
			}
			s := newSink(t, dir, FormatJSON, opts...)
			if tt.want == "" {
				ctx := context.Background()
				c := cred("k", "EXO1", testSecret)
				if err := s.Probe(ctx, "k"); err != nil {
					t.Fatalf("Probe: %v", err)
				}
				if err := s.Write(ctx, c); err != nil {
					t.Fatalf("Write: %v", err)
				}
				if err := s.Verify(ctx, c); err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			wantRefused(t, allOps(s), "directory "+dir, tt.want)
			if names := dirNames(t, dir); len(names) != 0 {
				t.Errorf("rotatord wrote %q into a directory others can write", names)
			}
		})
	}
}

// TestDirectorySwappedDuringWrite: once a write has opened the sink's
// directory, renaming it away and putting a symlink in its place (by the
// owner of its parent) does not move the write: the file lands in the
// directory that was checked.
func TestDirectorySwappedDuringWrite(t *testing.T) {
	needRoot(t)
	tmp := t.TempDir()
	victim := mkdir(t, filepath.Join(tmp, "rootonly"), 0o700)
	alice := mkdir(t, filepath.Join(tmp, "alice"), 0o755)
	if err := os.Chown(alice, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	creds := mkdir(t, filepath.Join(alice, "creds"), 0o700)
	for _, step := range []string{"create", "rename", "syncdir"} {
		t.Run(step, func(t *testing.T) {
			s := newSink(t, creds, FormatJSON)
			swapped := false
			s.inject = func(got string) error {
				if got == step && !swapped {
					swapped = true
					if err := os.Rename(creds, creds+".moved"); err != nil {
						return err
					}
					plant(t, victim, creds, nobody)
				}
				return nil
			}
			c := cred("k", "EXO1", testSecret)
			if err := s.Write(context.Background(), c); err != nil {
				t.Fatalf("Write: %v", err)
			}
			if names := dirNames(t, victim); len(names) != 0 {
				t.Errorf("the write went through the swapped-in symlink: %s holds %q", victim, names)
			}
			if names := dirNames(t, creds+".moved"); !slices.Equal(names, []string{"k.cred"}) {
				t.Errorf("the checked directory holds %q, want the target", names)
			}
			// Put things back for the next step.
			if err := os.Remove(creds); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(creds+".moved", creds); err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(filepath.Join(creds, "k.cred")); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestTakeOver: a file sink replaces only files rotatord wrote, unless
// take_over; Probe refuses first, so no key is created for it.
func TestTakeOver(t *testing.T) {
	ctx := context.Background()
	c := cred("k", "EXOnew", testSecret)
	t.Run("hand-written file refused", func(t *testing.T) {
		for _, format := range []string{FormatJSON, FormatEnv, FormatExoscaleTOML, FormatTemplate} {
			dir := t.TempDir()
			path := filepath.Join(dir, "k.cred")
			const mine = "# the operator's own file\nEXOSCALE_API_KEY=EXOmine\nEXOSCALE_API_SECRET=mine\n"
			if err := os.WriteFile(path, []byte(mine), 0o600); err != nil {
				t.Fatal(err)
			}
			s := newSink(t, dir, format)
			for op, err := range map[string]error{"Probe": s.Probe(ctx, "k"), "Write": s.Write(ctx, c)} {
				if !errors.Is(err, ErrNotManaged) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "take_over: true") {
					t.Errorf("%s %s = %v, want ErrNotManaged naming %s and take_over", format, op, err, path)
				}
			}
			if got := readString(t, path); got != mine {
				t.Errorf("%s: the file was replaced", format)
			}
			// take_over replaces it, and marks it: from then on it is rotatord's.
			s = newSink(t, dir, format, func(o *Options) { o.TakeOver = true })
			if err := s.Probe(ctx, "k"); err != nil {
				t.Fatalf("%s: Probe with take_over: %v", format, err)
			}
			if err := s.Write(ctx, c); err != nil {
				t.Fatalf("%s: Write with take_over: %v", format, err)
			}
			s = newSink(t, dir, format)
			if err := s.Write(ctx, cred("k", "EXOnext", testSecret)); err != nil {
				t.Errorf("%s: Write of a file rotatord took over: %v", format, err)
			}
		}
	})
	t.Run("marker", func(t *testing.T) {
		dir := t.TempDir()
		s := newSink(t, dir, FormatTemplate)
		if err := s.Write(ctx, c); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 64)
		n, err := unix.Getxattr(filepath.Join(dir, "k.cred"), markerAttr, buf)
		if err != nil || string(buf[:n]) != markerValue {
			t.Fatalf("marker = %q, %v; want %q", buf[:max(n, 0)], err, markerValue)
		}
		if err := s.Probe(ctx, "k"); err != nil {
			t.Errorf("Probe of rotatord's template file: %v", err)
		}
		// Without its marker a template file is anybody's.
		if err := unix.Removexattr(filepath.Join(dir, "k.cred"), markerAttr); err != nil {
			t.Fatal(err)
		}
		if err := s.Probe(ctx, "k"); !errors.Is(err, ErrNotManaged) {
			t.Errorf("Probe of a template file without marker = %v, want ErrNotManaged", err)
		}
	})
	t.Run("rotatord's layout without marker", func(t *testing.T) {
		// A file system without user xattrs, or a file from a version
		// before the marker: the content is exactly what rotatord writes
		// for the key name.
		for _, format := range []string{FormatJSON, FormatEnv, FormatExoscaleTOML} {
			dir := t.TempDir()
			s := newSink(t, dir, format)
			old := cred("k", "EXOold", "old-secret")
			b, err := render(format, nil, old)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "k.cred"), b, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := s.Write(ctx, c); err != nil {
				t.Errorf("%s: Write over rotatord's layout: %v", format, err)
			}
			// The same layout for another key name is not this target's.
			other, _ := render(format, nil, cred("other", "EXOold", "old-secret"))
			if err := os.WriteFile(filepath.Join(dir, "x.cred"), other, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := s.Probe(ctx, "x"); format != FormatEnv && !errors.Is(err, ErrNotManaged) {
				t.Errorf("%s: Probe of another name's file = %v, want ErrNotManaged", format, err)
			}
		}
	})
	t.Run("template where xattrs are unsupported", func(t *testing.T) {
		noXattr := func(step string) error {
			if step == "mark" {
				return errNoXattr
			}
			return nil
		}
		dir := t.TempDir()
		s := newSink(t, dir, FormatTemplate)
		s.inject = noXattr
		if err := s.Probe(ctx, "k"); err == nil || !strings.Contains(err.Error(), "keeps no extended attribute") || !strings.Contains(err.Error(), "take_over") {
			t.Errorf("Probe of a template sink without xattrs = %v, want a refusal naming take_over", err)
		}
		if names := dirNames(t, dir); len(names) != 0 {
			t.Errorf("directory holds %q", names)
		}
		for _, mk := range []func(dir string) *Sink{
			func(dir string) *Sink { return newSink(t, dir, FormatTemplate, func(o *Options) { o.TakeOver = true }) },
			func(dir string) *Sink { return newSink(t, dir, FormatJSON) },
		} {
			dir := t.TempDir()
			s := mk(dir)
			s.inject = noXattr
			if err := s.Probe(ctx, "k"); err != nil {
				t.Errorf("Probe (%s, take_over %v) without xattrs: %v", s.format, s.takeOver, err)
			}
			if err := s.Write(ctx, c); err != nil {
				t.Errorf("Write (%s, take_over %v) without xattrs: %v", s.format, s.takeOver, err)
			}
			// The next rotation: the json file is recognised by its
			// layout, the template one replaced by take_over.
			if err := s.Write(ctx, cred("k", "EXOnext", testSecret)); err != nil {
				t.Errorf("second Write (%s, take_over %v) without xattrs: %v", s.format, s.takeOver, err)
			}
			if names := dirNames(t, dir); !slices.Equal(names, []string{"k.cred"}) {
				t.Errorf("directory holds %q", names)
			}
		}
	})
}

// TestWorldReadableMode: a mode every user can read is refused unless the
// sink allows it.
func TestWorldReadableMode(t *testing.T) {
	dir := t.TempDir()
	o := Options{Path: pathTemplate(t, dir+"/{{.Name}}"), Format: FormatEnv, Mode: 0o644, UID: -1, GID: -1}
	if _, err := New(o); err == nil || !strings.Contains(err.Error(), "every user read") {
		t.Fatalf("New with mode 0644 = %v, want a refusal", err)
	}
	o.AllowWorldReadable = true
	s, err := New(o)
	if err != nil {
		t.Fatalf("New with mode 0644 and AllowWorldReadable: %v", err)
	}
	if err := s.Write(context.Background(), cred("k", "EXO1", testSecret)); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "k")); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("mode = %v, %v; want 0644", fi.Mode(), err)
	}
}

// releaseFIFO unblocks whoever is stuck opening the FIFO at path for reading.
func releaseFIFO(path string) {
	if fd, err := unix.Open(path, unix.O_WRONLY|unix.O_NONBLOCK, 0); err == nil {
		unix.Close(fd)
	}
}

// prompt runs f and fails the test if it does not return within d; a
// stuck f is released by release.
func prompt(t *testing.T, d time.Duration, what string, f func() error, release func()) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Errorf("%s blocked for %v", what, d)
		for {
			release()
			select {
			case err := <-done:
				return err
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
}

// TestFIFOAtTarget: a FIFO at the target, there from the start or swapped
// in between a check and the open, never blocks an operation.
func TestFIFOAtTarget(t *testing.T) {
	ctx := context.Background()
	c := cred("k", "EXO1", testSecret)
	t.Run("static", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "k.cred")
		if err := syscall.Mkfifo(path, 0o600); err != nil {
			t.Fatal(err)
		}
		s := newSink(t, dir, FormatJSON)
		for op, f := range map[string]func() error{
			"Probe":  func() error { return s.Probe(ctx, "k") },
			"Write":  func() error { return s.Write(ctx, c) },
			"Verify": func() error { return s.Verify(ctx, c) },
			"Read":   func() error { _, err := s.Read(ctx, "k"); return err },
		} {
			err := prompt(t, 5*time.Second, op, f, func() { releaseFIFO(path) })
			if err == nil || !strings.Contains(err.Error(), "not a regular file (named pipe)") || !strings.Contains(err.Error(), path) {
				t.Errorf("%s = %v, want a refusal of the named pipe naming %s", op, err, path)
			}
		}
	})
	t.Run("swapped in", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "k.cred")
		s := newSink(t, dir, FormatJSON)
		if err := s.Write(ctx, c); err != nil {
			t.Fatal(err)
		}
		// Keep a link to the regular file and a FIFO, and swap them in
		// at the target over and over.
		reg, fifo := filepath.Join(dir, "reg"), filepath.Join(dir, "fifo")
		if err := os.Link(path, reg); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mkfifo(fifo, 0o600); err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		swapper := make(chan error, 1)
		go func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					swapper <- nil
					return
				default:
				}
				src := reg
				if i%2 == 1 {
					src = fifo
				}
				tmp := filepath.Join(dir, "swap")
				if err := os.Link(src, tmp); err != nil {
					swapper <- err
					return
				}
				if err := os.Rename(tmp, path); err != nil {
					swapper <- err
					return
				}
				// A rename onto another link of the same file does nothing.
				if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
					swapper <- err
					return
				}
			}
		}()
		release := func() { releaseFIFO(path); releaseFIFO(fifo) }
		deadline := time.Now().Add(time.Second)
		if testing.Short() {
			deadline = time.Now().Add(200 * time.Millisecond)
		}
		var ok, refused int
		for time.Now().Before(deadline) && !t.Failed() {
			err := prompt(t, 5*time.Second, "Read", func() error { _, err := s.Read(ctx, "k"); return err }, release)
			if err == nil {
				ok++
			} else {
				refused++
			}
			prompt(t, 5*time.Second, "Verify", func() error { return s.Verify(ctx, c) }, release)
			prompt(t, 5*time.Second, "CurrentFingerprint", func() error { _, err := s.CurrentFingerprint(ctx, "k"); return err }, release)
		}
		close(stop)
		if err := <-swapper; err != nil {
			t.Fatal(err)
		}
		t.Logf("%d reads of the regular file, %d refused", ok, refused)
	})
}
