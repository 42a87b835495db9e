package config

// Second review of the issue 14 fixes (config host checks): tests that
// try to break them. A failing test here is a defect.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func hookHostProblems(t *testing.T, hook string, setup func(dir string)) string {
	t.Helper()
	file := writePolicy(t, hostDoc("state", "out/{{.Name}}.json")+"    hooks:\n"+hook)
	setup(filepath.Dir(file))
	_, warns, err := Validate(file, ValidateOptions{Host: true, Getenv: env(nil)})
	var all []string
	if err != nil {
		all = append(all, err.Error())
	}
	for _, w := range warns {
		all = append(all, w.Error())
	}
	return strings.Join(all, "\n")
}

// The key_file check stats the file and looks at its mode only. The
// webhook refuses an empty key at every call ("a signature with no key
// proves nothing"), and a directory cannot be read: both pass
// `rotatord check --host`, and every before_delete consumer check then
// fails, so no old key of the policy is ever deleted.
func TestHostCheckUnusableWebhookKeyFile(t *testing.T) {
	hook := "      - event: before_delete\n        webhook: {url: \"https://hooks.example.com/check\", key_file: hook-key}\n"
	for _, tc := range []struct {
		desc  string
		setup func(dir string)
	}{
		{"empty (0600)", func(dir string) { os.WriteFile(filepath.Join(dir, "hook-key"), nil, 0o600) }},
		{"only white space (0600)", func(dir string) { os.WriteFile(filepath.Join(dir, "hook-key"), []byte(" \n"), 0o600) }},
		{"a directory (0700)", func(dir string) { os.Mkdir(filepath.Join(dir, "hook-key"), 0o700) }},
	} {
		if got := hookHostProblems(t, hook, tc.setup); !strings.Contains(got, "hooks[0].webhook.key_file") {
			t.Errorf("a webhook key_file that is %s passes the host check: problems %q", tc.desc, got)
		}
	}
}

// The exec command must exist and have an execute bit, but a program
// anyone on the host may rewrite is accepted: whoever replaces it runs
// code as rotatord (which reads every sink's credential) at the next
// event, or turns the before_delete consumer check into `exit 0`. The
// same check refuses a world-readable webhook key (forged events), a
// world-writable state_dir and a world-writable sink mode.
func TestHostCheckWorldWritableExecCommand(t *testing.T) {
	var prog string
	hook := "      - event: before_delete\n        exec: {command: [PROG]}\n"
	file := writePolicy(t, "")
	prog = filepath.Join(filepath.Dir(file), "consumer-check")
	if err := os.WriteFile(prog, []byte("#!/bin/sh\nexit 0\n"), 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(prog, 0o777)
	got := hookHostProblems(t, strings.Replace(hook, "PROG", prog, 1), func(string) {})
	if !strings.Contains(got, "hooks[0].exec.command") {
		t.Errorf("a world-writable (0777) exec hook program %s passes the host check: problems %q", prog, got)
	}
}
