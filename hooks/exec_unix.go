//go:build unix

package hooks

import (
	"os"
	"os/exec"
	"syscall"
	"time"
)

// killGroupOnCancel starts the command in a process group of its own and
// kills the whole group when its context ends.
func killGroupOnCancel(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	dieWithParent(cmd.SysProcAttr)
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}

// killGroup kills what is left of the hook's process group once the hook
// itself has ended (ESRCH when nothing is).
func killGroup(pgid int) { _ = syscall.Kill(-pgid, syscall.SIGKILL) }

// reapGroup collects the processes of the hook's group that were left to
// rotatord: in a container it is PID 1 (and elsewhere possibly a
// subreaper), so the children of a killed hook become its own, and
// without a wait they stay zombies until the PIDs run out. It waits up to
// wait for the group to be gone; with zero it only takes those already
// dead. Elsewhere there is nothing to collect (ECHILD).
func reapGroup(pgid int, wait time.Duration) {
	deadline := time.Now().Add(wait)
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-pgid, &ws, syscall.WNOHANG, nil)
		switch {
		case err == syscall.EINTR:
			continue
		case err != nil: // ECHILD: none left that is ours
			return
		case pid > 0:
			continue
		}
		if !time.Now().Before(deadline) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ownerOf returns the uid that owns the file fi describes.
func ownerOf(fi os.FileInfo) (uint32, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return st.Uid, true
}
