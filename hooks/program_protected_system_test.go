//go:build linux

package hooks

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// systemd's ProtectSystem=strict (the unit README ships) remounts the
// whole tree read-only in rotatord's mount namespace only: a directory
// everyone may write, inside a file system that is read-write for every
// other process on the host, is still written by anyone there, and what
// they put in it runs as rotatord. Such a directory is refused as before;
// only the root of a read-only mount (a volume, as Kubernetes mounts a
// ConfigMap) is taken as written by nobody.
func TestCheckProgramRefusesAWorldWritableDirectoryOnlyRemountedReadOnlyForRotatord(t *testing.T) {
	if dir := os.Getenv("ROTATORD_TEST_STRICT_MOUNT"); dir != "" {
		// The child, in a mount namespace of its own: dir stands for
		// the host's / and dir/srv/hooks for a shared 0777 directory.
		hooks := filepath.Join(dir, "srv", "hooks")
		if err := os.MkdirAll(hooks, 0o755); err != nil {
			os.Exit(6)
		}
		if err := os.Chmod(hooks, 0o777); err != nil {
			os.Exit(6)
		}
		prog := filepath.Join(hooks, "check")
		if err := os.WriteFile(prog, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
			os.Exit(6)
		}
		// ProtectSystem=strict: a read-only bind of the tree onto
		// itself, the file system itself staying read-write.
		if err := syscall.Mount(dir, dir, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
			fmt.Fprintln(os.Stderr, "bind:", err)
			os.Exit(5)
		}
		if err := syscall.Mount("", dir, "", syscall.MS_REMOUNT|syscall.MS_BIND|syscall.MS_RDONLY, ""); err != nil {
			fmt.Fprintln(os.Stderr, "remount:", err)
			os.Exit(5)
		}
		if err := CheckProgram(prog); err == nil {
			os.Exit(3)
		}
		os.Exit(0)
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: mounts a file system")
	}
	dir := t.TempDir()
	child := exec.Command(os.Args[0], "-test.run=^TestCheckProgramRefusesAWorldWritableDirectoryOnlyRemountedReadOnlyForRotatord$")
	child.Env = append(os.Environ(), "ROTATORD_TEST_STRICT_MOUNT="+dir)
	child.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	out, err := child.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit) && exit.ExitCode() == 3:
		t.Fatalf("CheckProgram accepted a program in a 0777 directory that is read-only only in rotatord's mount namespace (ProtectSystem=strict): everyone else on the host may still replace it: %s", out)
	case errors.As(err, &exit) && exit.ExitCode() == 5:
		t.Skipf("cannot mount here: %s", out)
	default:
		t.Fatalf("%v: %s", err, out)
	}
}
