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

// readOnlyMount reports whether path is on a file system mounted
// read-only (a bind mount's own flag included): nobody may write there,
// whatever the modes say.
func readOnlyMount(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && st.Flags&unix.ST_RDONLY != 0
}
