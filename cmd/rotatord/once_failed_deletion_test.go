package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// failingConsumerCheck writes an exec hook that logs "EVENT NAME" a line
// to calls.log and fails at before_delete (the consumer check), and
// returns the hooks: block running it at before_delete and on_failure.
func failingConsumerCheck(t *testing.T, dir string) (hooksYAML, calls string) {
	t.Helper()
	calls = filepath.Join(dir, "calls.log")
	script := writeFile(t, filepath.Join(dir, "check.sh"), fmt.Sprintf(`#!/bin/sh
echo "$ROTATORD_EVENT $ROTATORD_NAME" >> %s
[ "$ROTATORD_EVENT" != before_delete ]
`, calls))
	if err := os.Chmod(script, 0o700); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`    hooks:
      - {event: before_delete, exec: {command: [%s]}}
      - {event: on_failure, exec: {command: [%s]}}
`, script, script), calls
}

func countCalls(t *testing.T, calls, line string) int {
	t.Helper()
	b, err := os.ReadFile(calls)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return strings.Count(string(b), line+"\n")
}

// Issue 14: a failing consumer check keeps the old key and "retries with
// backoff". One `once` is one attempt: the deletion its pass tried (and
// failed) was tried again at once by the deletion round that follows the
// pass (which ignores the backoff), so the consumer check ran twice, two
// failures were recorded (a doubled backoff) and on_failure fired twice,
// with two idempotency keys, for one failure.
func TestOnceRunsAFailingConsumerCheckOnce(t *testing.T) {
	e := newSimEnv(t, "")
	hooksYAML, calls := failingConsumerCheck(t, e.dir)
	b, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.config, append(b, hooksYAML...), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI("once", "--force", "-o", "json", "--config.file", e.config)
	if code != 1 {
		t.Fatalf("once --force with a failing consumer check = %d, want 1:\n%s\n%s", code, stdout, stderr)
	}
	for _, name := range []string{"ci-deploy", "ci-runner"} {
		if n := countCalls(t, calls, "before_delete "+name); n != 1 {
			t.Errorf("the consumer check of %s ran %d times in one once, want 1", name, n)
		}
		if n := countCalls(t, calls, "on_failure "+name); n > 1 {
			t.Errorf("on_failure of %s ran %d times for one failure", name, n)
		}
		if n := liveKeys(e.sim, name); n != 2 {
			t.Errorf("%s has %d live keys, want 2 (the old one kept by the failing check)", name, n)
		}
	}
	var out []outcomeJSON
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatalf("once -o json: %v\n%s", err, stdout)
	}
	for _, o := range out {
		if o.Result != resultFailed || !strings.Contains(o.Error, "before_delete") {
			t.Errorf("%s: result %q, error %q; want failed by the before_delete hook", o.Name, o.Result, o.Error)
		}
	}
}

// A deletion that waits for this process's own confirmation of the new
// key (a few seconds) is carried out by once before it prints: its row
// then came from the deletion round alone, without the name's keys, so
// `once -o json` said key_ids: [] for a name with two live keys.
func TestOnceRowOfAWaitedDeletionKeepsItsKeys(t *testing.T) {
	e := newSimEnv(t, "")
	hooksYAML, _ := failingConsumerCheck(t, e.dir)
	b, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	b = []byte(strings.Replace(string(b), "grace_period: 0s", "grace_period: 1s", 1))
	if err := os.WriteFile(e.config, append(b, hooksYAML...), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCLI("once", "--force", "--config.file", e.config); code != 0 {
		t.Fatalf("once --force = %d:\n%s", code, stderr)
	}
	time.Sleep(1500 * time.Millisecond) // the grace period ends
	// A new process: it confirms the new keys itself, and waits.
	code, stdout, stderr := runCLI("once", "-o", "json", "--config.file", e.config)
	if code != 1 {
		t.Fatalf("once with a failing consumer check = %d, want 1:\n%s\n%s", code, stdout, stderr)
	}
	var out []outcomeJSON
	if err := json.Unmarshal([]byte(stdout), &out); err != nil || len(out) != 2 {
		t.Fatalf("once -o json: %v\n%s", err, stdout)
	}
	for _, o := range out {
		if o.Result != resultFailed || len(o.KeyIDs) != 2 {
			t.Errorf("%s: result %q, key_ids %v; want failed with the name's 2 live keys", o.Name, o.Result, o.KeyIDs)
		}
	}
}

// `once --policy ci` is a pass of ci alone: the deletion round that
// follows its pass carried out the due deletions of every policy, and ran
// their consumer checks.
func TestOncePolicyLeavesOtherPoliciesDeletionsAlone(t *testing.T) {
	e := newSimEnv(t, "")
	hooksYAML, calls := failingConsumerCheck(t, e.dir)
	b, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, fmt.Sprintf(`  - name: backup
    match: {name: "backup-*"}
    grace_period: 1s
    adopt: rotate
    sinks:
      - {type: file, path: "out/backup-{{.Name}}.json"}
%s`, hooksYAML)...)
	if err := os.WriteFile(e.config, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCLI("once", "--force", "--policy", "backup", "--config.file", e.config); code != 0 {
		t.Fatalf("once --force --policy backup = %d:\n%s", code, stderr)
	}
	time.Sleep(1500 * time.Millisecond) // backup's grace period ends
	code, stdout, stderr := runCLI("once", "-o", "json", "--policy", "ci", "--config.file", e.config)
	if code != 0 {
		t.Fatalf("once --policy ci = %d:\n%s\n%s", code, stdout, stderr)
	}
	if n := countCalls(t, calls, "before_delete backup-agent"); n != 0 {
		t.Errorf("once --policy ci ran policy backup's consumer check %d times", n)
	}
	if strings.Contains(stdout, `"backup"`) {
		t.Errorf("once --policy ci reports policy backup:\n%s", stdout)
	}
	if n := liveKeys(e.sim, "backup-agent"); n != 2 {
		t.Errorf("backup-agent has %d live keys, want 2 (its deletion is backup's)", n)
	}
}

// An after_delivery hook that fails is tried again at the next pass, once:
// the rotation ran it after the delivery, then the deletion that follows
// at once (grace_period: 0) ran it again, so every failure was two runs
// and two failures counted.
func TestAFailingAfterDeliveryHookRunsOncePerPass(t *testing.T) {
	e := newSimEnv(t, "")
	calls := filepath.Join(e.dir, "calls.log")
	script := writeFile(t, filepath.Join(e.dir, "notify.sh"), fmt.Sprintf(`#!/bin/sh
echo "$ROTATORD_EVENT $ROTATORD_NAME" >> %s
exit 1
`, calls))
	if err := os.Chmod(script, 0o700); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, fmt.Sprintf(`    hooks:
      - {event: after_delivery, exec: {command: [%s]}}
`, script)...)
	if err := os.WriteFile(e.config, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, stdout, stderr := runCLI("once", "--force", "--config.file", e.config); code != 1 {
		t.Fatalf("once --force with a failing after_delivery hook = %d, want 1:\n%s\n%s", code, stdout, stderr)
	}
	for _, name := range []string{"ci-deploy", "ci-runner"} {
		if n := countCalls(t, calls, "after_delivery "+name); n != 1 {
			t.Errorf("the after_delivery hook of %s ran %d times in one pass, want 1", name, n)
		}
		if n := liveKeys(e.sim, name); n != 2 {
			t.Errorf("%s has %d live keys, want 2 (the old one kept while the hook is owed)", name, n)
		}
	}
	if code, _, _ := runCLI("once", "--config.file", e.config); code != 1 {
		t.Errorf("once with the hook still failing = %d, want 1", code)
	}
	for _, name := range []string{"ci-deploy", "ci-runner"} {
		if n := countCalls(t, calls, "after_delivery "+name); n != 2 {
			t.Errorf("after two passes the after_delivery hook of %s ran %d times, want 2", name, n)
		}
	}
}
