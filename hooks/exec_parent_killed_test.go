//go:build linux

package hooks

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// rotatord SIGKILLed while an exec hook runs (a consumer check that
// hangs): the hook must not run on without its timeout, beside the same
// hook run again after the restart. It gets SIGKILL when rotatord dies.
// The test runs the hook from a child process (this test binary again)
// and kills that child.
func TestExecHookDiesWithRotatord(t *testing.T) {
	if pidFile := os.Getenv("ROTATORD_TEST_HOOK_PARENT"); pidFile != "" {
		// The child: rotatord running a hook that hangs.
		script := "echo $$ > " + pidFile + ".tmp && mv " + pidFile + ".tmp " + pidFile + " && exec /bin/sleep 300"
		_ = (Exec{Command: []string{"/bin/sh", "-c", script}, Timeout: 10 * time.Minute}).Run(context.Background(), testEvent())
		os.Exit(0)
	}
	pidFile := filepath.Join(t.TempDir(), "hook.pid")
	parent := exec.Command(os.Args[0], "-test.run=^TestExecHookDiesWithRotatord$")
	parent.Env = append(os.Environ(), "ROTATORD_TEST_HOOK_PARENT="+pidFile)
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	var hook int
	for deadline := time.Now().Add(30 * time.Second); hook == 0; time.Sleep(20 * time.Millisecond) {
		if b, err := os.ReadFile(pidFile); err == nil {
			hook, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
		if time.Now().After(deadline) {
			parent.Process.Kill()
			parent.Wait()
			t.Fatal("the hook did not start")
		}
	}
	defer syscall.Kill(hook, syscall.SIGKILL)
	if err := parent.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	parent.Wait()
	// The kernel signals the hook as its parent exits; allow for a loaded
	// machine before calling it a survivor.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		st, err := os.ReadFile("/proc/" + strconv.Itoa(hook) + "/stat")
		if err != nil {
			return // gone
		}
		if f := strings.Fields(string(st[strings.LastIndexByte(string(st), ')')+1:])); len(f) > 0 && (f[0] == "Z" || f[0] == "X") {
			return // dead, not yet reaped by its new parent
		}
		if time.Now().After(deadline) {
			t.Fatalf("the hook %d still runs after rotatord was SIGKILLed", hook)
		}
	}
}
