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

// Kubernetes mounts a ConfigMap volume (the natural home of a hook script
// in a pod, defaultMode 0755) read-only, on a directory of mode 0777 that
// fsGroup may make 2777: nobody can write it, whatever its mode says. A
// hook program there is not refused as in a directory everyone may write;
// the same directory mounted read-write still is.
func TestCheckProgramAcceptsAWorldWritableDirectoryOnAReadOnlyMount(t *testing.T) {
	if dir := os.Getenv("ROTATORD_TEST_RO_MOUNT"); dir != "" {
		// The child, in a mount namespace of its own.
		if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "mode=0777"); err != nil {
			fmt.Fprintln(os.Stderr, "mount:", err)
			os.Exit(5)
		}
		data := filepath.Join(dir, "..2026_12_06")
		if err := os.Mkdir(data, 0o755); err != nil {
			os.Exit(6)
		}
		if err := os.WriteFile(filepath.Join(data, "check"), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
			os.Exit(6)
		}
		if os.Symlink("..2026_12_06", filepath.Join(dir, "..data")) != nil || os.Symlink("..data/check", filepath.Join(dir, "check")) != nil {
			os.Exit(6)
		}
		prog := filepath.Join(dir, "check")
		if CheckProgram(prog) == nil {
			os.Exit(7) // read-write and 0777: must be refused
		}
		if err := syscall.Mount("", dir, "", syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
			fmt.Fprintln(os.Stderr, "remount:", err)
			os.Exit(5)
		}
		if err := CheckProgram(prog); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		os.Exit(0)
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: mounts a file system")
	}
	dir := filepath.Join(t.TempDir(), "hooks")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	child := exec.Command(os.Args[0], "-test.run=^TestCheckProgramAcceptsAWorldWritableDirectoryOnAReadOnlyMount$")
	child.Env = append(os.Environ(), "ROTATORD_TEST_RO_MOUNT="+dir)
	child.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	out, err := child.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit) && exit.ExitCode() == 3:
		t.Fatalf("CheckProgram refused a program on a read-only mount, which nobody may write: %s", out)
	case errors.As(err, &exit) && exit.ExitCode() == 7:
		t.Fatal("CheckProgram accepted a program in a read-write directory everyone may write")
	case errors.As(err, &exit) && exit.ExitCode() == 5:
		t.Skipf("cannot mount here: %s", out)
	default:
		t.Fatalf("%v: %s", err, out)
	}
}
