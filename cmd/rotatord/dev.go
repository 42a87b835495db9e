package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rotatord/rotatord/apiclient/exosim"
	"github.com/rotatord/rotatord/daemon"
)

// devPolicy is the demo's policy file: it rotates the simulator's ci-* keys
// every few seconds into files under the demo folder.
const devPolicy = `# Written by "rotatord dev": a demo against a local Exoscale simulator.
exoscale:
  endpoint: %[1]s
  api_key: %[2]s
  api_secret_file: admin-secret
state_dir: state
listen: %[3]s
policies:
  - name: demo
    match:
      name: "ci-*"
    schedule: "@every 5s"
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

func cmdDev(args []string, stdout, stderr io.Writer) error {
	var (
		c        common
		dir      string
		listen   string
		duration time.Duration
	)
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c.register(fs, false)
	fs.StringVar(&dir, "dir", "rotatord-dev", "folder for the demo's policy, state and output files")
	fs.StringVar(&listen, "listen", "127.0.0.1:9108", "metrics and health address")
	fs.DurationVar(&duration, "duration", 0, "stop after this long (0: run until interrupted)")
	c.logFormat = "console"
	if err := fs.Parse(args); err != nil {
		return err
	}
	log, err := c.logger(stderr)
	if err != nil {
		return err
	}
	defer log.Sync()

	dir, err = filepath.Abs(dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return err
	}
	root, err := openDevDir(-1, dir)
	if err != nil {
		return err
	}
	defer root.Close()
	out, err := openDevDir(int(root.Fd()), filepath.Join(dir, "out"))
	if err != nil {
		return err
	}
	out.Close()
	sim, err := exosim.Start(exosim.DefaultSeed(), "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer sim.Close()
	admin := sim.Admin()
	if err := writeDevFile(root, "admin-secret", []byte(admin.Secret+"\n")); err != nil {
		return err
	}
	configPath := filepath.Join(dir, "policy.yml")
	if err := writeDevFile(root, "policy.yml", fmt.Appendf(nil, devPolicy, sim.Endpoint, admin.Key, listen)); err != nil {
		return err
	}

	d, err := daemon.New(daemon.Options{ConfigPath: configPath, Logger: log, DeleteCheckInterval: 2 * time.Second})
	if err != nil {
		return err
	}
	defer d.Close()

	fmt.Fprintf(stdout, `rotatord dev: a local Exoscale simulator and a policy that rotates its ci-* keys every 20s.
  simulator    %s   (keys: %s/_sim/keys)
  policy file  %s
  credentials  %s/out/   (new files appear as keys rotate)
  metrics      http://%s/metrics   (also /healthz, /readyz)
Stop with Ctrl-C.
`, sim.Endpoint, sim.URL, configPath, dir, listen)

	ctx, reload, stop := signals()
	defer stop()
	if duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, duration)
		defer cancel()
	}
	return d.Run(ctx, reload)
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
