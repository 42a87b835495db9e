package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient/exosim"
	"github.com/rotatord/rotatord/apiclient/exosim/exosimtest"
	"github.com/rotatord/rotatord/rotation"
)

// fullStdout is stdout on a full disk (/dev/full): every write fails.
type fullStdout struct{}

func (fullStdout) Write([]byte) (int, error) {
	return 0, &os.PathError{Op: "write", Path: "/dev/stdout", Err: syscall.ENOSPC}
}

// Before 57f1a5c printRows ignored a write error of the table (it returned
// nil whatever tabwriter/bufio met); now it returns it. This pins the
// change: it passes on 57f1a5c and would have failed before.
func TestTableWriteErrorIsNowReturned(t *testing.T) {
	rs := []row{{Outcome: rotation.Outcome{Policy: "ci", Name: "ci-a"}, Result: resultRotated}}
	err := printRows(fullStdout{}, sliceRows(rs), outputNow, false, true)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("printRows = %v, want ENOSPC", err)
	}
}

// once on a full stdout after a pass that rotated every key: what does the
// operator learn? Before 57f1a5c: exit 0 and nothing on stderr (the table
// was lost silently). 57f1a5c: exit 1 and "rotatord: write ...: no space
// left on device", though both keys were rotated and delivered. Now: exit 0
// (the pass's) and the lost table told on stderr.
func TestOnceFullStdoutAfterSuccessfulPass(t *testing.T) {
	e := newSimEnv(t, "")
	var errOut bytes.Buffer
	code := run([]string{"once", "--config.file", e.config, "--force"}, fullStdout{}, &errOut)
	files, _ := filepath.Glob(filepath.Join(e.dir, "out", "*.json"))
	t.Logf("code %d, %d keys delivered, stderr:\n%s", code, len(files), errOut.String())
	if len(files) == 0 {
		t.Fatal("nothing was delivered")
	}
	if code != 0 {
		t.Errorf("once rotated and delivered every key but exits %d because stdout is full (exited 0 before 57f1a5c)", code)
	}
	if !strings.Contains(errOut.String(), "rotatord: printing the outcomes: write /dev/stdout: no space left on device") {
		t.Errorf("the lost table is not told on stderr: %q", lastLine(errOut.String()))
	}
}

// once on a full stdout after a pass where a name failed: the exit code is
// 1 both before and after, but the ERROR column is the only place the
// failure is told (once runs with CallerReports): after 57f1a5c stderr
// says only that stdout is full.
func TestOnceFullStdoutAfterFailedPass(t *testing.T) {
	e := newSimEnv(t, "")
	e.sim.SetFault(exosim.OpCreateAPIKey, exosim.Fault{ErrorRate: 1, ErrorStatus: 503})
	var errOut bytes.Buffer
	start := time.Now()
	code := run([]string{"once", "--config.file", e.config, "--force"}, fullStdout{}, &errOut)
	t.Logf("code %d after %v, stderr:\n%s", code, time.Since(start), errOut.String())
	if code != 1 {
		t.Errorf("once = %d, want 1", code)
	}
	if !strings.Contains(errOut.String(), "503") {
		t.Errorf("the failure (HTTP 503) is told nowhere: stderr %q", errOut.String())
	}
}

// once over two accounts, one of which cannot list its keys (passErr, with
// the other account's outcomes in out), on a full stdout: 57f1a5c told the
// pass error nowhere. Before it the table's write error was ignored and
// report printed "rotatord: account green: list keys: ..."; so it does now.
// (-o json dropped it the same way before 57f1a5c.)
func TestOnceFullStdoutDropsThePassError(t *testing.T) {
	e := newSimEnv(t, "")
	green := exosimtest.NewServer(t, exosim.DefaultSeed())
	green.SetFault(exosim.OpListAPIKeys, exosim.Fault{ErrorRate: 1, ErrorStatus: 503})
	writeFile(t, filepath.Join(e.dir, "green-secret"), green.Admin().Secret)
	body, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(body), "state_dir: state\n", fmt.Sprintf(`accounts:
  - name: green
    endpoint: %s
    api_key: %s
    api_secret_file: green-secret
    max_retries: 0
state_dir: state
`, green.Endpoint, green.Admin().Key), 1) + `  - name: green-ci
    account: green
    match: {name: "ci-*"}
    grace_period: 0s
    adopt: rotate
    sinks:
      - {type: file, path: "out/green-{{.Name}}.json"}
`
	writeFile(t, e.config, cfg)

	// The pass error as once tells it when stdout works.
	code, stdout, stderr := runCLI("once", "--config.file", e.config)
	t.Logf("working stdout: code %d\nstdout:\n%s\nstderr tail: %s", code, stdout, lastLine(stderr))
	if code != 1 || !strings.Contains(stderr, "rotatord: ") || !strings.Contains(stderr, "503") {
		t.Fatalf("setup: want exit 1 and the pass error, got %d %q", code, stderr)
	}

	var errOut bytes.Buffer
	code = run([]string{"once", "--config.file", e.config, "--force"}, fullStdout{}, &errOut)
	t.Logf("full stdout: code %d, stderr tail: %s", code, lastLine(errOut.String()))
	if code != 1 {
		t.Errorf("once = %d, want 1", code)
	}
	if !strings.Contains(errOut.String(), "503") {
		t.Errorf("the pass error (account green: HTTP 503) is told nowhere on a full stdout; stderr ends %q", lastLine(errOut.String()))
	}
}

func lastLine(s string) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return l[len(l)-1]
}
