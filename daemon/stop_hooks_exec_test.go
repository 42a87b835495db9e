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
	pids := filepath.Join(e.dir, "pids")
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
	cfg := strings.ReplaceAll(string(b), `.json"}]`, `.json"}]`+hook)
	if strings.Count(cfg, "hooks:") != 2 {
		t.Fatalf("the hooks were not added to both policies:\n%s", cfg)
	}
	if err := os.WriteFile(e.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	d := e.open()
	// The sinks of both accounts fail: out is a file now.
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
	running := map[string]int{}
	for deadline := time.Now().Add(time.Minute); len(running) < 2; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("on_failure hooks running: %v, want those of ci and green-ci", running)
		}
		for _, p := range []string{"ci", "green-ci"} {
			if b, err := os.ReadFile(filepath.Join(pids, p)); err == nil {
				if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
					running[p] = pid
				}
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
