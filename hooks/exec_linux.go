//go:build linux

package hooks

import (
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// dieWithParent has the kernel SIGKILL the hook when rotatord dies (a
// SIGKILL, a crash): a hook that hangs would otherwise run on with no
// timeout, beside the same hook run again after the restart. The signal
// follows the thread that started the hook, not the process: Run holds
// that thread (lockThread) until the hook has ended.
func dieWithParent(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }

// lockThread keeps the calling goroutine on its thread until unlock: the
// thread that starts a hook lives as long as the hook, as Pdeathsig needs.
func lockThread() (unlock func()) {
	runtime.LockOSThread()
	return runtime.UnlockOSThread
}

// readOnlyMount reports whether path is the root of a read-only mount (a
// volume mounted there, as Kubernetes mounts a ConfigMap): nobody may
// write it there, whatever its mode says. A directory inside a mount only
// read-only in rotatord's mount namespace (systemd's ProtectSystem=strict
// remounts the whole tree so) is not: every other process on the host
// still writes it through its own read-write mount. Without statx's
// STATX_ATTR_MOUNT_ROOT (Linux 5.8), the modes are taken as they are.
func readOnlyMount(path string) bool {
	var st unix.Statfs_t
	if unix.Statfs(path, &st) != nil || st.Flags&unix.ST_RDONLY == 0 {
		return false
	}
	var sx unix.Statx_t
	if unix.Statx(unix.AT_FDCWD, path, 0, 0, &sx) != nil {
		return false
	}
	return sx.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT != 0 && sx.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0
}
