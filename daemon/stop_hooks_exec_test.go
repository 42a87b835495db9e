package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rotatord/rotatord/rotation"
)

// Two accounts whose on_failure exec hooks hang: the stop cancels both
// (each hook's process is gone when Close returns) and says so for each
// account.
func TestStopKillsTheHangingOnFailureHooksOfEveryAccount(t *testing.T) {
	e := newAccountsEnv(t)
	pids := e.hangingFailureHooks(`.json"}]`, 2)
	d := e.open()
	e.failSinksAndPass(d)
	running := map[string]int{}
	for deadline := time.Now().Add(time.Minute); len(running) < 2; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("on_failure hooks running: %v, want those of ci and green-ci", running)
		}
		for _, p := range []string{"ci", "green-ci"} {
			if pid := hookPID(pids, p); pid != 0 {
				running[p] = pid
			}
		}
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	for p, pid := range running {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("the on_failure hook of %s (pid %d) outlived the stop: kill 0: %v", p, pid, err)
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	warned := map[string]bool{}
	for _, l := range e.logs.FilterMessageSnippet("on_failure hooks still running").All() {
		warned[fmt.Sprint(l.ContextMap()["account"])] = true
	}
	for _, a := range []string{"default", "green"} {
		if !warned[a] {
			t.Errorf("no warning that the hooks of account %s were cancelled (warned: %v)", a, warned)
		}
	}
}

// hangingFailureHooks gives the policies whose sink list ends with
// sinkEnd (want of them) an on_failure exec hook that writes its pid to
// a file named after the policy, in the directory it returns, and hangs.
func (e *accountsEnv) hangingFailureHooks(sinkEnd string, want int) (pids string) {
	t := e.t
	t.Helper()
	pids = filepath.Join(e.dir, "pids")
	if err := os.Mkdir(pids, 0o700); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(e.dir, "hang.sh")
	if err := os.WriteFile(script, []byte(fmt.Sprintf("#!/bin/sh\necho $$ > %s/$ROTATORD_POLICY.tmp && mv %s/$ROTATORD_POLICY.tmp %s/$ROTATORD_POLICY\nexec sleep 600\n", pids, pids, pids)), 0o700); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	hook := fmt.Sprintf("\n    hooks: [{event: on_failure, exec: {command: [%s]}}]", script)
	cfg := strings.ReplaceAll(string(b), sinkEnd, sinkEnd+hook)
	if strings.Count(cfg, "hooks:") != want {
		t.Fatalf("the hook was not added to %d policies:\n%s", want, cfg)
	}
	if err := os.WriteFile(e.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return pids
}

// failSinksAndPass makes every file sink fail (out is a file now) and
// runs a forced pass of d, whose rotations fail.
func (e *accountsEnv) failSinksAndPass(d *Daemon) {
	t := e.t
	t.Helper()
	out := filepath.Join(e.dir, "out")
	if err := os.RemoveAll(out); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := d.RunPass(context.Background(), nil, rotation.Options{Force: true}); err == nil {
		t.Log("the pass reported no error")
	}
}

// hookPID is the pid the hanging hook of policy wrote in pids (0: none
// yet).
func hookPID(pids, policy string) int {
	b, err := os.ReadFile(filepath.Join(pids, policy))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}
