//go:build linux

package hooks

// Second review of the issue 14 fixes (hooks): tests that try to break the
// fixes themselves. A failing test here is a defect.

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// rotatord runs as PID 1 in its image (FROM scratch, ENTRYPOINT
// ["/rotatord"], no init), so every process a hook leaves behind is
// re-parented to rotatord. The timeout fix kills the hook's process group,
// but nobody waits for the members it killed: under PID 1 (simulated here
// with PR_SET_CHILD_SUBREAPER, which gives the test process the same
// role) each killed child stays a zombie for the life of the daemon, one
// more at every retry of a consumer check that times out, until the pid
// limit of the pod is reached.
func TestExecTimeoutLeavesNoZombieUnderPID1(t *testing.T) {
	const prSetChildSubreaper = 36
	if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); e != 0 {
		t.Skipf("prctl(PR_SET_CHILD_SUBREAPER): %v", e)
	}
	defer syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 0, 0)
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child.pid")
	script := "/bin/sleep 30 & echo $! > " + pidFile + "; wait"
	err := (Exec{Command: []string{"/bin/sh", "-c", script}, Timeout: 300 * time.Millisecond}).Run(context.Background(), testEvent())
	if err == nil {
		t.Fatal("the hook succeeded past its timeout")
	}
	b, _ := os.ReadFile(pidFile)
	pid, perr := strconv.Atoi(strings.TrimSpace(string(b)))
	if perr != nil {
		t.Fatalf("the hook's child did not start: %q", b)
	}
	defer func() {
		syscall.Kill(pid, syscall.SIGKILL)
		var ws syscall.WaitStatus
		syscall.Wait4(pid, &ws, syscall.WNOHANG, nil) // clean up after the test
	}()
	time.Sleep(time.Second)
	st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return // reaped: what should happen
	}
	fields := strings.Fields(string(st[strings.LastIndexByte(string(st), ')')+1:]))
	if len(fields) > 1 && fields[0] == "Z" && fields[1] == strconv.Itoa(os.Getpid()) {
		t.Errorf("the hook's child %d, killed at the timeout, is a zombie of rotatord (PID 1 in its image) a second later: nobody reaps the killed process group", pid)
	}
}
