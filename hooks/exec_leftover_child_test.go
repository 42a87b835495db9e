//go:build linux

package hooks

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// A hook that exits and leaves a child running (`check & exit 0`): the
// child would run on as rotatord's user, past the hook's timeout, and
// under PID 1 (rotatord's image; simulated with PR_SET_CHILD_SUBREAPER)
// become a zombie of rotatord when it ends, which nobody waits for. When
// the hook ends, what is left of its process group is killed and reaped.
func TestExecHookLeavesNoChildBehindWhenItExits(t *testing.T) {
	const prSetChildSubreaper = 36
	if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); e != 0 {
		t.Skipf("prctl(PR_SET_CHILD_SUBREAPER): %v", e)
	}
	defer syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 0, 0)
	for _, exit := range []string{"0", "1"} {
		dir := t.TempDir()
		pidFile := filepath.Join(dir, "child.pid")
		script := "/bin/sleep 30 & echo $! > " + pidFile + "; exit " + exit
		err := (Exec{Command: []string{"/bin/sh", "-c", script}}).Run(context.Background(), testEvent())
		if (err == nil) != (exit == "0") {
			t.Fatalf("exit %s: Run: %v", exit, err)
		}
		b, _ := os.ReadFile(pidFile)
		pid, perr := strconv.Atoi(strings.TrimSpace(string(b)))
		if perr != nil {
			t.Fatalf("the hook's child did not start: %q", b)
		}
		st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err == nil {
			syscall.Kill(pid, syscall.SIGKILL)
			var ws syscall.WaitStatus
			syscall.Wait4(pid, &ws, 0, nil)
			state := strings.Fields(string(st[strings.LastIndexByte(string(st), ')')+1:]))[0]
			t.Errorf("hook exited %s: its child %d is still there (state %s) after the hook ended", exit, pid, state)
		}
	}
}
