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

// An account a reload removed while its on_failure exec hook still ran:
// the stop cancels that hook too (its process group is killed), as it
// does those of the accounts in force. Left alone, nothing kills it at
// its timeout once rotatord has gone, and what it started runs on.
func TestStopKillsTheOnFailureHookOfAnAccountAReloadRemoved(t *testing.T) {
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
	cfg := strings.Replace(string(b), `out/green-{{.Name}}.json"}]`, `out/green-{{.Name}}.json"}]`+hook, 1)
	if strings.Count(cfg, "hooks:") != 1 {
		t.Fatalf("the hook was not added to green-ci:\n%s", cfg)
	}
	if err := os.WriteFile(e.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	d := e.open()
	// The sinks fail: out is a file now.
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
	pid := 0
	for deadline := time.Now().Add(time.Minute); pid == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the on_failure hook of green-ci did not start")
		}
		if b, err := os.ReadFile(filepath.Join(pids, "green-ci")); err == nil {
			pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
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
