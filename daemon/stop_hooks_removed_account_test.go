package daemon

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"
)

// An account a reload removed while its on_failure exec hook still ran:
// the stop cancels that hook too (its process group is killed), as it
// does those of the accounts in force. Left alone, nothing kills it at
// its timeout once rotatord has gone, and what it started runs on.
func TestStopKillsTheOnFailureHookOfAnAccountAReloadRemoved(t *testing.T) {
	e := newAccountsEnv(t)
	pids := e.hangingFailureHooks(`out/green-{{.Name}}.json"}]`, 1)
	d := e.open()
	e.failSinksAndPass(d)
	pid := 0
	for deadline := time.Now().Add(time.Minute); pid == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the on_failure hook of green-ci did not start")
		}
		pid = hookPID(pids, "green-ci")
	}
	defer syscall.Kill(pid, syscall.SIGKILL)
	e.dropGreen()
	if err := d.Reload(); err != nil {
		t.Fatalf("reload without account green: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("the on_failure hook of the removed account (pid %d) outlived the stop: kill 0: %v", pid, err)
	}
	warned := false
	for _, l := range e.logs.FilterMessageSnippet("on_failure hooks still running").All() {
		warned = warned || strings.Contains(fmt.Sprint(l.ContextMap()["account"]), "green")
	}
	if !warned {
		t.Error("no warning that the hooks of the removed account green were cancelled")
	}
}
