package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"golang.org/x/sys/unix"

	"github.com/rotatord/rotatord/apiclient/exosim"
	"github.com/rotatord/rotatord/daemon"
	"github.com/rotatord/rotatord/state"
)

// devPolicy is the demo's policy file, the daemon's: it rotates the
// simulator's ci-* keys every few seconds into files under the demo folder.
const devPolicy = devHeader + `: a demo against a local Exoscale simulator.
# The running demo's daemon uses this file (and the state directory state/).
exoscale:
  endpoint: %[1]s
  api_key: %[2]s
  api_secret_file: admin-secret
state_dir: state
listen: %[3]q
policies:
  - name: demo
    match:
      name: "ci-*"
    schedule: "@every 10s"
    max_age: 20s
    grace_period: 10s
    adopt: rotate
    sinks:
      - type: file
        path: "out/{{.Name}}.json"
        format: json
      - type: file
        path: "out/{{.Name}}.env"
        format: env
`

// devOncePolicy is for trying `rotatord once` beside the running demo: the
// daemon holds the lock of its state directory and acts on the ci-* keys,
// so this file has a state directory of its own and manages other keys
// (try-*), which the daemon leaves alone. Only one rotatord may act on a
// key name.
const devOncePolicy = devHeader + `: try "rotatord once" on the demo while it runs.
# Its own state directory (the daemon holds state/) and its own keys
# (try-*; the daemon manages ci-*).
exoscale:
  endpoint: %[1]s
  api_key: %[2]s
  api_secret_file: admin-secret
state_dir: once-state
listen: 127.0.0.1:0
policies:
  - name: try
    match:
      name: "try-*"
    schedule: "@every 1m"
    max_age: 1m
    grace_period: 0s
    adopt: rotate
    sinks:
      - type: file
        path: "out/{{.Name}}.json"
        format: json
`

// devTryKey is the key the once policy file rotates.
const devTryKey = "try-once"

type devFlags struct {
	log      logFlags
	dir      string
	listen   string
	duration time.Duration
}

func (f *devFlags) register(cmd *kingpin.CmdClause) {
	cmd.Flag("dir", "Folder for the demo's policy files, state directories and credential files (created 0700; refused if another user can write it). Each demo starts afresh: the previous demo's state and credential files there are removed (refused if the folder holds a state directory but not the .rotatord-dev marker of an earlier dev; a running dev holds a lock on that marker).").
		Default("rotatord-dev").Action(notEmpty("dir", &f.dir)).StringVar(&f.dir)
	cmd.Flag("web.listen-address", "Address to serve the demo's metrics and health on (one address: unlike run's flag, not repeatable); checked before anything starts.").
		Default("127.0.0.1:9108").Action(notEmpty("web.listen-address", &f.listen)).StringVar(&f.listen)
	cmd.Flag("listen", "Old spelling of --web.listen-address.").Hidden().Action(notEmpty("listen", &f.listen)).StringVar(&f.listen)
	cmd.Flag("duration", "Stop after this long (0s: run until interrupted).").Default("0s").DurationVar(&f.duration)
	f.log.register(cmd, "console")
}

// devInfo is what the banner tells; tests use it.
type devInfo struct {
	dir, policy, oncePolicy, listen string
}

func (c *cli) cmdDev(ctx context.Context, ready func(devInfo)) error {
	f := &c.dev
	log, err := f.log.logger(c.stderr)
	if err != nil {
		return err
	}
	defer log.Sync()

	// The port first: a second demo must fail before it prints or writes
	// anything (the first one's files stay as they are).
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fmt.Errorf("%w (another rotatord dev running? choose another --web.listen-address)", err)
	}
	defer func() {
		if ln != nil {
			ln.Close()
		}
	}()

	dir, err := filepath.Abs(f.dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return err
	}
	// The demo keeps working by path (policy file, state directory), so
	// nobody else may be able to rename anything on the way to it.
	if err := checkDevAncestors(filepath.Dir(dir)); err != nil {
		return err
	}
	root, err := openDevDir(-1, dir)
	if err != nil {
		return err
	}
	defer root.Close()
	// The simulator is new at each start, with new keys: what a previous
	// demo left (its journals, whose rotations name the old simulator's
	// keys, and its credential files) must not outlive it. Only in a
	// folder dev made, though: another program's state/ is not dev's to
	// remove.
	// A folder without dev's marker must hold nothing dev writes or
	// removes: checked before the marker is made, as a refused folder must
	// not become dev's for the next run.
	if err := unix.Fstatat(int(root.Fd()), devLockName, new(unix.Stat_t), unix.AT_SYMLINK_NOFOLLOW); errors.Is(err, unix.ENOENT) {
		held, err := devContents(root)
		if err != nil {
			return err
		}
		if len(held) > 0 {
			return fmt.Errorf("%s holds %s but no %s marker of rotatord dev: it is not a demo folder, and dev starts each demo afresh; choose another --dir", dir, strings.Join(held, ", "), devLockName)
		}
	}
	lock, own, err := lockDevDir(root)
	if err != nil {
		return err
	}
	defer lock.Close()
	var left []string
	for _, name := range devJournals {
		if err := unix.Fstatat(int(root.Fd()), name, new(unix.Stat_t), unix.AT_SYMLINK_NOFOLLOW); err == nil {
			left = append(left, name)
		} else if !errors.Is(err, unix.ENOENT) {
			return &os.PathError{Op: "stat", Path: filepath.Join(dir, name), Err: err}
		}
	}
	if len(left) > 0 && !own {
		return fmt.Errorf("%s holds %s/ but no %s marker of rotatord dev: it is not a demo folder, and dev starts each demo afresh; choose another --dir", dir, strings.Join(left, "/, "), devLockName)
	}
	// A demo in the same folder on another port: its daemon holds the lock
	// of state/, and its files must be left alone.
	if slices.Contains(left, "state") {
		lock, err := state.Open(filepath.Join(dir, "state"))
		if errors.Is(err, state.ErrLocked) {
			return fmt.Errorf("%s is in use by another rotatord dev: stop it or choose another --dir", dir)
		}
		if err == nil {
			lock.Close()
		}
		// Another error (a journal that does not load) does not matter:
		// it goes below.
	}
	out, err := openDevDir(int(root.Fd()), filepath.Join(dir, "out"))
	if err != nil {
		return err
	}
	if own {
		err = clearDevRun(root, out)
	}
	out.Close()
	if err != nil {
		return err
	}
	seed := exosim.DefaultSeed()
	seed.Keys = append(seed.Keys, exosim.SeedKey{Name: devTryKey, Role: "ci"})
	sim, err := exosim.Start(seed, "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer sim.Close()
	admin := sim.Admin()
	if err := writeDevFile(root, "admin-secret", []byte(admin.Secret+"\n")); err != nil {
		return err
	}
	listen := ln.Addr().String()
	info := devInfo{dir: dir, policy: filepath.Join(dir, "policy.yml"), oncePolicy: filepath.Join(dir, "once.yml"), listen: listen}
	if err := writeDevFile(root, "policy.yml", fmt.Appendf(nil, devPolicy, sim.Endpoint, admin.Key, listen)); err != nil {
		return err
	}
	if err := writeDevFile(root, "once.yml", fmt.Appendf(nil, devOncePolicy, sim.Endpoint, admin.Key)); err != nil {
		return err
	}

	d, err := daemon.New(daemon.Options{ConfigPath: info.policy, Logger: log, DeleteCheckInterval: 2 * time.Second, Listener: ln})
	if err != nil {
		return err
	}
	ln = nil // Run closes it
	defer d.Close()

	self := selfCommand()
	fmt.Fprintf(c.stdout, `rotatord dev: a local Exoscale simulator and a policy that rotates its ci-* keys every 20s.
  simulator    %[1]s   (keys: %[2]s/_sim/keys)
  policy file  %[3]s
  credentials  %[4]s/out/   (new files appear as keys rotate)
  metrics      http://%[5]s/metrics   (also /healthz, /readyz)
Try, in another terminal, while this runs (the simulator lives as long as it does):
  %[6]s plan --config.file %[9]s
      what the daemon will do next, and why (plan reads the state beside the daemon)
  %[6]s validate %[9]s
  %[6]s once --config.file %[10]s --force
      rotate the %[8]s key now: once.yml has its own state directory and keys,
      as the daemon holds the lock of state/ and manages ci-*
Stop with Ctrl-C.
`, sim.Endpoint, sim.URL, info.policy, dir, listen, self, info.oncePolicy, devTryKey, shellWord(info.policy), shellWord(info.oncePolicy))
	if ready != nil {
		ready(info)
	}

	ctx, reload, stop := signals(ctx)
	defer stop()
	if f.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.duration)
		defer cancel()
	}
	return d.Run(ctx, reload)
}

// devJournals are the state directories of the demo's two policy files.
var devJournals = []string{"state", "once-state"}

// devHeader starts every policy file dev writes: it marks a folder dev made.
const devHeader = `# Written by "rotatord dev"`

// devLockName is the file that marks a folder dev made, and whose lock a
// running dev holds for its whole life.
const devLockName = ".rotatord-dev"

// lockDevDir takes the lock of the folder d for as long as the returned
// file is open: no second dev can start in it meanwhile, not even in the
// moment before the first one's daemon locks its state. made says an
// earlier dev made the folder (the marker was there already); a folder
// without it is new or not dev's, whatever its policy.yml says.
func lockDevDir(d *os.File) (lock *os.File, made bool, err error) {
	path := filepath.Join(d.Name(), devLockName)
	flags := unix.O_RDWR | unix.O_NOFOLLOW | unix.O_NONBLOCK | unix.O_CLOEXEC
	fd, err := unix.Openat(int(d.Fd()), devLockName, flags|unix.O_CREAT|unix.O_EXCL, 0o600)
	if errors.Is(err, unix.EEXIST) {
		made = true
		fd, err = unix.Openat(int(d.Fd()), devLockName, flags, 0)
	}
	if err != nil {
		return nil, false, &os.PathError{Op: "open", Path: path, Err: err}
	}
	lock = os.NewFile(uintptr(fd), path)
	if fi, err := lock.Stat(); err != nil || !fi.Mode().IsRegular() {
		lock.Close()
		return nil, false, fmt.Errorf("%s is not a regular file: not a demo folder; choose another --dir", path)
	}
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		lock.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, false, fmt.Errorf("%s is in use by another rotatord dev: stop it or choose another --dir", d.Name())
		}
		return nil, false, &os.PathError{Op: "lock", Path: path, Err: err}
	}
	return lock, made, nil
}

// devContents lists what the folder d holds of what dev writes or
// removes there: its state directories, policy files, admin secret, and
// out/ unless empty.
func devContents(d *os.File) ([]string, error) {
	var held []string
	for _, name := range append(slices.Clone(devJournals), "policy.yml", "once.yml", "admin-secret", "out") {
		err := unix.Fstatat(int(d.Fd()), name, new(unix.Stat_t), unix.AT_SYMLINK_NOFOLLOW)
		if errors.Is(err, unix.ENOENT) {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "stat", Path: filepath.Join(d.Name(), name), Err: err}
		}
		if name == "out" {
			fd, err := unix.Openat(int(d.Fd()), name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err == nil {
				f := os.NewFile(uintptr(fd), filepath.Join(d.Name(), name))
				entries, _ := f.ReadDir(1)
				f.Close()
				if len(entries) == 0 {
					continue
				}
			}
		}
		if slices.Contains(devJournals, name) || name == "out" {
			name += "/"
		}
		held = append(held, name)
	}
	return held, nil
}

// clearDevRun removes what the previous demo in root left: its journals
// and the files in out/. Neither a symlink nor a directory is followed
// out of root (os.RemoveAll removes a symlink, not its target, and the
// path to root was checked by openDevDir and checkDevAncestors).
func clearDevRun(root, out *os.File) error {
	for _, name := range devJournals {
		if err := os.RemoveAll(filepath.Join(root.Name(), name)); err != nil {
			return err
		}
	}
	entries, err := out.ReadDir(-1)
	if err != nil {
		return &os.PathError{Op: "read", Path: out.Name(), Err: err}
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(out.Name(), e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// selfCommand is how the banner names rotatord: "go run ./cmd/rotatord"
// when it runs that way (the binary is in Go's build cache, under a name
// that will be gone), else the name it was started by.
func selfCommand() string {
	if strings.Contains(os.Args[0], "go-build") || strings.HasSuffix(os.Args[0], ".test") {
		return "go run ./cmd/rotatord"
	}
	return shellWord(os.Args[0])
}

// shellWord quotes s for a POSIX shell, for the banner's commands to be
// pasted as they are: a path with a space or a quote in it stays one word.
func shellWord(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./_-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// openDevDir creates the directory path (mode 0700) unless it exists, in
// the directory parent when >= 0, and opens it without following a symlink
// at its name. The demo writes an admin secret and its policy there, and
// the daemon the credentials: a directory another user owns or can write
// (group or world, sticky or not) is refused, as they could plant
// symlinks in it or swap its files.
func openDevDir(parent int, path string) (*os.File, error) {
	at, name := unix.AT_FDCWD, path
	if parent >= 0 {
		at, name = parent, filepath.Base(path)
	}
	if err := unix.Mkdirat(at, name, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
		return nil, &os.PathError{Op: "mkdir", Path: path, Err: err}
	}
	fd, err := unix.Openat(at, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
		return nil, fmt.Errorf("%s is not a directory (a symlink is not followed: give the directory it points to)", path)
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	d := os.NewFile(uintptr(fd), path)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		d.Close()
		return nil, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	if uid := int(st.Uid); uid != os.Geteuid() && uid != 0 {
		d.Close()
		return nil, fmt.Errorf("%s belongs to uid %d, not to you: choose another --dir", path, uid)
	}
	if mode := uint32(st.Mode) & 0o7777; mode&0o022 != 0 {
		d.Close()
		return nil, fmt.Errorf("%s can be written by other users (mode %#o): choose another --dir, or chmod go-w it", path, mode)
	}
	return d, nil
}

// writeDevFile writes a new file name in the directory d, mode 0600. The
// previous run's file is removed first (the name itself: a symlink there
// is removed, not followed) and the new one created with
// O_EXCL|O_NOFOLLOW, so the write never lands anywhere else.
func writeDevFile(d *os.File, name string, data []byte) error {
	path := filepath.Join(d.Name(), name)
	if err := unix.Unlinkat(int(d.Fd()), name, 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return &os.PathError{Op: "remove", Path: path, Err: err}
	}
	fd, err := unix.Openat(int(d.Fd()), name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return &os.PathError{Op: "create", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// checkDevAncestors refuses a demo directory under a directory another user
// owns or can write (a sticky directory such as /tmp excepted: there only
// an entry's owner may rename it): that user could swap the demo directory
// for one of theirs between rotatord's checks and its later uses of the
// path, and make it write its state, as root maybe, where they chose.
func checkDevAncestors(dir string) error {
	for d := dir; ; d = filepath.Dir(d) {
		var st unix.Stat_t
		if err := unix.Stat(d, &st); err != nil {
			return &os.PathError{Op: "stat", Path: d, Err: err}
		}
		uid, mode := int(st.Uid), uint32(st.Mode)&0o7777
		switch {
		case uid != os.Geteuid() && uid != 0:
			return fmt.Errorf("--dir is under %s, which belongs to uid %d: another user could swap the demo directory; choose a --dir under directories only you or root own", d, uid)
		case mode&0o022 != 0 && mode&0o1000 == 0:
			return fmt.Errorf("--dir is under %s, which other users can write (mode %#o): choose another --dir", d, mode)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}
