package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient/exosim"
	"github.com/rotatord/rotatord/apiclient/exosim/exosimtest"
	"github.com/rotatord/rotatord/rotation"
)

// runCLI runs rotatord in-process.
func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestUsageAndVersion(t *testing.T) {
	tests := []struct {
		give     []string
		wantCode int
		wantOut  string
		wantErr  string
	}{
		{nil, 2, "", "usage: rotatord"},
		{[]string{"frobnicate"}, 2, "", `expected command but got "frobnicate"`},
		{[]string{"version"}, 0, "rotatord ", ""},
		{[]string{"--version"}, 0, "rotatord, version ", ""},
		{[]string{"help"}, 0, "once [<flags>]", ""},
		{[]string{"--help"}, 0, "once [<flags>]", ""},
		{[]string{"run", "--log.format", "xml"}, 2, "", `--log.format "xml": want json, logfmt, console`},
		{[]string{"run", "--log-format", "xml", "--config", "/nonexistent"}, 2, "", `--log-format "xml"`},
		{[]string{"once", "--output", "yaml"}, 2, "", `--output "yaml": want table, json`},
		{[]string{"validate", "--config", "/nonexistent/rotatord.yml"}, 1, "", "/nonexistent/rotatord.yml"},
		{[]string{"once", "--no-such-flag"}, 2, "", "unknown long flag '--no-such-flag'\nTry 'rotatord help once'."},
	}
	for _, tt := range tests {
		code, stdout, stderr := runCLI(tt.give...)
		if code != tt.wantCode {
			t.Errorf("run(%q) = %d, want %d (stderr %q)", tt.give, code, tt.wantCode, stderr)
		}
		if !strings.Contains(stdout, tt.wantOut) {
			t.Errorf("run(%q) stdout = %q, want %q", tt.give, stdout, tt.wantOut)
		}
		if !strings.Contains(stderr, tt.wantErr) {
			t.Errorf("run(%q) stderr = %q, want %q", tt.give, stderr, tt.wantErr)
		}
	}
}

// TestUnknownArgumentsAreErrors: a positional argument no command takes is
// a usage error everywhere, before anything runs (issue 12: validate
// ignored its argument).
func TestUnknownArgumentsAreErrors(t *testing.T) {
	for _, args := range [][]string{
		{"run", "extra"},
		{"once", "extra"},
		{"plan", "/etc/rotatord/rotatord.yml"},
		{"validate", "a.yml", "b.yml"},
		{"dev", "extra"},
		{"version", "extra"},
	} {
		code, stdout, stderr := runCLI(args...)
		if code != 2 || !strings.Contains(stderr, "unexpected") || stdout != "" {
			t.Errorf("rotatord %q = %d, stdout %q, stderr %q; want 2 and an unexpected-argument error", args, code, stdout, stderr)
		}
	}
}

// writeFile writes a test file, mode 0600.
func writeFile(t *testing.T, path, body string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, filepath.Join(dir, "good.yml"), `exoscale:
  api_key: EXO0123456789abcdef01234567
  api_secret: not-checked-here
policies:
  - name: ci
    match: {name: "ci-*"}
    sinks:
      - type: file
        path: "`+dir+`/{{.Name}}.json"
`)
	bad := writeFile(t, filepath.Join(dir, "bad.yml"), "policies:\n  - name: ci\n    colour: blue\n")

	for _, args := range [][]string{
		{"validate", "--config.file", good},
		{"validate", "--config", good}, // the old spelling
		{"validate", good},             // like promtool check config FILE
		{"validate", good, "--log-level=debug"},
		{"validate", "--config.file", good, good}, // the same file twice is one file
	} {
		code, stdout, stderr := runCLI(args...)
		if code != 0 || stdout != good+": valid (1 policies)\n" {
			t.Errorf("rotatord %q = %d, stdout %q, stderr %q; want %s valid", args, code, stdout, stderr, good)
		}
	}
	for _, args := range [][]string{
		{"validate", "--config", bad},
		{"validate", bad},
	} {
		code, stdout, stderr := runCLI(args...)
		if code != 1 {
			t.Fatalf("rotatord %q = %d", args, code)
		}
		if !strings.Contains(stderr, bad+":3:") || !strings.Contains(stderr, "colour") {
			t.Errorf("stderr = %q, want the file:line and the field", stderr)
		}
		if strings.Contains(stdout+stderr, "not-checked-here") {
			t.Error("validate printed the secret")
		}
	}
	code, _, stderr := runCLI("validate", "--config.file", good, bad)
	// Two files is a usage error (exit 2, as an argument too many), not a
	// file that failed validation (1).
	if code != 2 || !strings.Contains(stderr, "two policy files") || !strings.Contains(stderr, "rotatord help validate") {
		t.Errorf("validate with two different files = %d, %q; want a usage error (2)", code, stderr)
	}
}

// TestValidatePositionalIsTheFileChecked: `rotatord validate FILE` checks
// FILE, not the default /etc/rotatord/rotatord.yml (issue 12: a CI step
// validating a new file passed on the installed one).
func TestValidatePositionalIsTheFileChecked(t *testing.T) {
	dir := t.TempDir()
	bad := writeFile(t, filepath.Join(dir, "policy.yml"), "policies: [\n")
	code, stdout, stderr := runCLI("validate", bad)
	if code != 1 || !strings.Contains(stderr, bad) || strings.Contains(stdout+stderr, defaultConfigFile) {
		t.Errorf("validate %s = %d, stdout %q, stderr %q; want it to report %s and not %s", bad, code, stdout, stderr, bad, defaultConfigFile)
	}
}

// TestHelpPerCommand: `rotatord help CMD` and `rotatord CMD --help` print
// that command's help, every flag of it described (issue 12: help run
// printed the global usage, and flags had no descriptions).
func TestHelpPerCommand(t *testing.T) {
	for _, cmd := range commandNames {
		code, byHelp, stderr := runCLI(append([]string{"help"}, strings.Fields(cmd)...)...)
		if code != 0 || !strings.HasPrefix(byHelp, "usage: rotatord "+cmd) {
			t.Errorf("help %s = %d, %q, %q; want its usage", cmd, code, byHelp, stderr)
		}
		if _, byFlag, _ := runCLI(append(strings.Fields(cmd), "--help")...); byFlag != byHelp {
			t.Errorf("%s --help differs from help %s:\n%s\n---\n%s", cmd, cmd, byFlag, byHelp)
		}
	}
	app := newCLI(nil, nil).app
	for _, cmd := range app.Model().Commands {
		for _, f := range cmd.Flags {
			if !f.Hidden && strings.TrimSpace(f.Help) == "" {
				t.Errorf("%s --%s has no help", cmd.Name, f.Name)
			}
		}
		for _, a := range cmd.Args {
			if strings.TrimSpace(a.Help) == "" {
				t.Errorf("%s argument %s has no help", cmd.Name, a.Name)
			}
		}
	}
	// The flags of each command, and only those.
	want := map[string][]string{
		"run":      {"--config.file=", "--log.level=info", "--log.format=json", "--web.listen-address=", "--web.config.file=", "web.enable-lifecycle"},
		"once":     {"--config.file=", "--policy=NAME", "-o, --output=table", "force"},
		"plan":     {"--config.file=", "--policy=NAME", "-o, --output=table"},
		"validate": {"--config.file=", "[<file>]", "Args:"},
		"dev":      {"--dir=", "--web.listen-address=", "--duration="},
	}
	for cmd, flags := range want {
		_, out, _ := runCLI("help", cmd)
		for _, f := range flags {
			if !strings.Contains(out, f) {
				t.Errorf("help %s lacks %q:\n%s", cmd, f, out)
			}
		}
		for _, hidden := range []string{"--config=", "--log-level", "--log-format", "--listen="} {
			if strings.Contains(out, hidden) {
				t.Errorf("help %s shows the old spelling %s", cmd, hidden)
			}
		}
	}
	if _, out, _ := runCLI("help", "run"); !strings.Contains(out, "9108") || !strings.Contains(out, "graphite_exporter") {
		t.Error("help run does not say that 9108 is graphite_exporter's port")
	}
}

// TestDevHelpShowsItsDefaults: dev logs to the console by default and its
// help says so (issue 12: dev --help showed json).
func TestDevHelpShowsItsDefaults(t *testing.T) {
	_, out, _ := runCLI("dev", "--help")
	for _, want := range []string{`--log.format=console`, `--web.listen-address="127.0.0.1:9108"`, `--dir="rotatord-dev"`, `--duration=0s`} {
		if !strings.Contains(out, want) {
			t.Errorf("dev --help lacks %s:\n%s", want, out)
		}
	}
	c := parseDev(t, nil, nil)
	if c.dev.log.format != "console" || c.dev.listen != "127.0.0.1:9108" || c.dev.dir != "rotatord-dev" || c.dev.duration != 0 {
		t.Errorf("dev defaults = %+v; not what its help shows", c.dev)
	}
}

// TestOldSpellingsStillWork: scripts and unit files written for the Go
// flag spellings (--config, --log-level, --log-format, dev --listen) keep
// working.
func TestOldSpellingsStillWork(t *testing.T) {
	c := newCLI(nil, nil)
	if _, err := c.app.Parse([]string{"once", "--config", "/x.yml", "--log-level", "debug", "--log-format=console", "--force"}); err != nil {
		t.Fatal(err)
	}
	if f := c.once.common; f.configFile != "/x.yml" || f.log.level != "debug" || f.log.format != "console" || !c.once.force {
		t.Errorf("once flags = %+v", c.once)
	}
	c = parseDev(t, nil, nil, "--listen", "127.0.0.1:9999")
	if c.dev.listen != "127.0.0.1:9999" {
		t.Errorf("dev --listen: listen = %q", c.dev.listen)
	}
	c = newCLI(nil, nil)
	if _, err := c.app.Parse([]string{"run", "--config.file=/y.yml", "--web.listen-address=:9999", "--web.enable-lifecycle", "--web.config.file", "/w.yml"}); err != nil {
		t.Fatal(err)
	}
	if f := c.run; f.common.configFile != "/y.yml" || !slices.Equal(f.listen, []string{":9999"}) || !f.web.EnableLifecycle || f.web.ConfigFile != "/w.yml" {
		t.Errorf("run flags = %+v", f)
	}
}

// TestCompletionScripts: kingpin's shell completion. It writes to
// os.Stdout whatever the application's writer, so the test swaps it.
func TestCompletionScripts(t *testing.T) {
	stdoutOf := func(args ...string) (int, string) {
		f, err := os.CreateTemp(t.TempDir(), "stdout")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		saved := os.Stdout
		os.Stdout = f
		code := run(args, f, f)
		os.Stdout = saved
		b, err := os.ReadFile(f.Name())
		if err != nil {
			t.Fatal(err)
		}
		return code, string(b)
	}
	for _, flag := range []string{"--completion-script-bash", "--completion-script-zsh"} {
		code, out := stdoutOf(flag)
		if code != 0 || !strings.Contains(out, "rotatord") || !strings.Contains(out, "--completion-bash") {
			t.Errorf("%s = %d, %q", flag, code, out)
		}
	}
	_, out := stdoutOf("--completion-bash", "once", "--")
	for _, want := range []string{"--config.file", "--policy", "--force", "--output"} {
		if !strings.Contains(out, want) {
			t.Errorf("completion of once -- lacks %s: %q", want, out)
		}
	}
	if _, out := stdoutOf("--completion-bash"); !strings.Contains(out, "validate") || !strings.Contains(out, "dev") {
		t.Errorf("completion of the commands: %q", out)
	}
}

// simEnv is a simulator and a policy file against it, for plan and once
// in-process.
type simEnv struct {
	sim    *exosim.Server
	dir    string
	config string
}

func newSimEnv(t *testing.T, extra string) *simEnv {
	t.Helper()
	sim := exosimtest.NewServer(t, exosim.DefaultSeed())
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "out"), 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "secret"), sim.Admin().Secret)
	config := writeFile(t, filepath.Join(dir, "policy.yml"), fmt.Sprintf(`exoscale:
  endpoint: %s
  api_key: %s
  api_secret_file: secret
  max_retries: 0
state_dir: state
policies:
  - name: ci
    match: {name: "ci-*"}
    grace_period: 0s
    adopt: rotate
    sinks:
      - {type: file, path: "out/{{.Name}}.json"}
%s`, sim.Endpoint, sim.Admin().Key, extra))
	return &simEnv{sim: sim, dir: dir, config: config}
}

// TestPassErrorPrintedOnce: a pass that cannot list the keys is told once,
// not as a log line and again as `rotatord: ...` (issue 12).
func TestPassErrorPrintedOnce(t *testing.T) {
	e := newSimEnv(t, "")
	e.sim.SetFault(exosim.OpListAPIKeys, exosim.Fault{ErrorRate: 1, ErrorStatus: 503})
	for _, cmd := range []string{"plan", "once"} {
		code, stdout, stderr := runCLI(cmd, "--config.file", e.config)
		if code != 1 {
			t.Errorf("%s = %d, want 1", cmd, code)
		}
		if n := strings.Count(stdout+stderr, "HTTP 503"); n != 1 {
			t.Errorf("%s printed the error %d times, want once:\nstdout %s\nstderr %s", cmd, n, stdout, stderr)
		}
		if !strings.HasPrefix(stderr, "rotatord: list keys:") {
			t.Errorf("%s stderr = %q, want the error as rotatord: list keys: ...", cmd, stderr)
		}
	}
}

// TestPlanPolicyFlag: plan takes --policy like once (issue 12).
func TestPlanPolicyFlag(t *testing.T) {
	e := newSimEnv(t, `  - name: backup
    match: {name: "backup-*"}
    sinks:
      - {type: file, path: "out/backup-{{.Name}}.json"}
`)
	code, stdout, stderr := runCLI("plan", "--config.file", e.config, "--policy", "backup")
	if code != 0 {
		t.Fatalf("plan --policy backup = %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "backup-agent") || strings.Contains(stdout, "ci-runner") {
		t.Errorf("plan --policy backup:\n%s\nwant backup-agent only", stdout)
	}
	code, _, stderr = runCLI("plan", "--config.file", e.config, "--policy", "nope")
	if code != 1 || strings.Count(stderr, `no policy named "nope"`) != 1 {
		t.Errorf("plan --policy nope = %d, %q; want one error", code, stderr)
	}
}

var tableSpaces = regexp.MustCompile(`\s{2,}`)

// TestOnceResultColumnAndJSON: once's table says what came of each name,
// and -o json gives scripts the same as an array (issue 12).
func TestOnceResultColumnAndJSON(t *testing.T) {
	e := newSimEnv(t, "")
	code, stdout, stderr := runCLI("plan", "--config.file", e.config, "-o", "json")
	if code != 0 {
		t.Fatalf("plan -o json = %d: %s", code, stderr)
	}
	var plan []map[string]any
	if err := json.Unmarshal([]byte(stdout), &plan); err != nil || len(plan) != 2 {
		t.Fatalf("plan -o json: %v, %d elements:\n%s", err, len(plan), stdout)
	}
	if p := plan[0]; p["policy"] != "ci" || p["name"] != "ci-deploy" || p["action"] != "rotate" || p["reason"] != string(rotation.ReasonAgeUnknown) || p["result"] != nil {
		t.Errorf("plan -o json [0] = %v", p)
	}
	if ids, ok := plan[0]["key_ids"].([]any); !ok || len(ids) != 1 {
		t.Errorf("plan key_ids = %v, want one id", plan[0]["key_ids"])
	}

	code, stdout, stderr = runCLI("once", "--config.file", e.config)
	if code != 0 {
		t.Fatalf("once = %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if got := tableSpaces.Split(lines[0], -1); strings.Join(got, " ") != "POLICY NAME KEYS ACTION RESULT REASON NEXT ERROR" {
		t.Errorf("once header = %q", lines[0])
	}
	for _, l := range lines[1:] {
		if f := tableSpaces.Split(l, -1); len(f) < 5 || f[3] != "rotate" || f[4] != "rotated" {
			t.Errorf("once row %q, want rotate rotated", l)
		}
	}

	code, stdout, stderr = runCLI("once", "--config.file", e.config, "--output=json")
	if code != 0 {
		t.Fatalf("once -o json = %d: %s", code, stderr)
	}
	var once []outcomeJSON
	if err := json.Unmarshal([]byte(stdout), &once); err != nil || len(once) != 2 {
		t.Fatalf("once -o json: %v:\n%s", err, stdout)
	}
	for _, o := range once {
		if o.Result != "skipped" || o.Action != "none" || o.NextDue == nil || o.NextDue.Before(time.Now()) || o.Error != "" || len(o.KeyIDs) != 1 {
			t.Errorf("once -o json after a rotation: %+v, want skipped (issue #12's RESULT values) until a due time", o)
		}
	}
}

// TestResultOf: the RESULT column's values are issue #12's (rotated,
// failed, skipped, deleted), a name the pass did nothing to being skipped
// whatever the reason (REASON says which); recovered and blocked are
// rotatord's own, for the two cases the issue does not name.
func TestResultOf(t *testing.T) {
	for _, tt := range []struct {
		o      rotation.Outcome
		passed rotation.Action
		want   string
	}{
		{rotation.Outcome{Decision: rotation.Decision{Action: rotation.ActionRotate}}, "", "rotated"},
		{rotation.Outcome{Decision: rotation.Decision{Action: rotation.ActionRotate}, Err: fmt.Errorf("x")}, "", "failed"},
		{rotation.Outcome{Decision: rotation.Decision{Action: rotation.ActionDelete}}, rotation.ActionRotate, "rotated"},
		{rotation.Outcome{Decision: rotation.Decision{Action: rotation.ActionDelete}}, "", "deleted"},
		{rotation.Outcome{Decision: rotation.Decision{Action: rotation.ActionRecover}}, "", "recovered"},
		{rotation.Outcome{Decision: rotation.Decision{Action: rotation.ActionNone, Reason: rotation.ReasonOutsideWindow}}, rotation.ActionRecover, "recovered"},
		{rotation.Outcome{Decision: rotation.Decision{Action: rotation.ActionDelete}}, rotation.ActionRecover, "recovered"},
		{rotation.Outcome{Decision: rotation.Decision{Action: rotation.ActionSkip, Reason: rotation.ReasonOwnKey}}, "", "skipped"},
		{rotation.Outcome{Decision: rotation.Decision{Action: rotation.ActionNone, Reason: rotation.ReasonFresh}}, "", "skipped"},
		{rotation.Outcome{Decision: rotation.Decision{Action: rotation.ActionNone, Reason: rotation.ReasonGraceRunning}}, "", "skipped"},
		{rotation.Outcome{Decision: rotation.Decision{Action: rotation.ActionNone, Reason: rotation.ReasonBackoff}}, "", "skipped"},
		{rotation.Outcome{Decision: rotation.Decision{Action: rotation.ActionNone, Reason: rotation.ReasonTwoKeys}}, "", "blocked"},
	} {
		if got := resultOf(tt.o, tt.passed); got != tt.want {
			t.Errorf("resultOf(%+v, %q) = %q, want %q", tt.o, tt.passed, got, tt.want)
		}
	}
}

// TestOnceJSONEscapesHostileNames: -o json is JSON whatever the names.
func TestOnceJSONEscapesHostileNames(t *testing.T) {
	hostile := "ci-x\x1b[2K\r\n\u202e\xff"
	var buf bytes.Buffer
	if err := printRows(&buf, rows{1, func(int) row {
		return row{Outcome: rotation.Outcome{Policy: "ci", Name: hostile, Err: fmt.Errorf("create %q", hostile)}, Result: "failed"}
	}}, time.Now(), true, true); err != nil {
		t.Fatal(err)
	}
	var out []outcomeJSON
	if err := json.Unmarshal(buf.Bytes(), &out); err != nil || len(out) != 1 {
		t.Fatalf("not JSON: %v\n%s", err, buf.String())
	}
	if out[0].Name != strings.ToValidUTF8(hostile, "\ufffd") {
		t.Errorf("name = %q", out[0].Name)
	}
	if strings.ContainsAny(buf.String(), "\x1b\r\u202e") || strings.Count(buf.String(), "\n") != strings.Count(buf.String(), "\n  ")+2 {
		t.Errorf("raw control characters in the JSON output: %q", buf.String())
	}
}

// TestValidateChecksTheHost: validate reports what run would refuse on
// this host (a missing sink directory, issue 12: it showed only during a
// rotation) with its file:line; --file-only checks the file alone.
func TestValidateChecksTheHost(t *testing.T) {
	dir := t.TempDir()
	policy := writeFile(t, filepath.Join(dir, "policy.yml"), `exoscale:
  api_key: EXO0123456789abcdef01234567
  api_secret: not-checked-here
state_dir: state
policies:
  - name: ci
    match: {name: "ci-*"}
    schedule: "0 3 * * *"
    max_age: 2h
    sinks:
      - type: file
        path: "missing/{{.Name}}.json"
`)
	code, stdout, stderr := runCLI("validate", policy)
	if code != 1 || stdout != "" || !strings.Contains(stderr, policy+":12: policies[0].sinks[0].path: ") || !strings.Contains(stderr, "missing") {
		t.Errorf("validate with a missing sink directory = %d, stdout %q, stderr %q; want 1 and the path's file:line", code, stdout, stderr)
	}
	code, stdout, stderr = runCLI("validate", "--file-only", policy)
	if code != 0 || stdout != policy+": valid (1 policies)\n" {
		t.Errorf("validate --file-only = %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	// A schedule that cannot keep keys younger than max_age is a warning.
	if !strings.Contains(stderr, policy+":8: warning: policies[0].schedule: ") {
		t.Errorf("validate --file-only stderr %q, want a warning on the schedule", stderr)
	}
}

// TestValidateOnline: --online proves the credential, probes the sinks
// and prints the plan, creating nothing; a failure is told once.
func TestValidateOnline(t *testing.T) {
	e := newSimEnv(t, "")
	before := len(e.sim.Keys())
	code, stdout, stderr := runCLI("validate", "--online", e.config)
	if code != 0 || !strings.Contains(stdout, "valid (1 policies)") || !strings.Contains(stdout, "ok    credential") || !strings.Contains(stdout, "ci-runner") {
		t.Errorf("validate --online = %d:\n%s\n%s", code, stdout, stderr)
	}
	if after := len(e.sim.Keys()); after != before {
		t.Errorf("validate --online changed the keys: %d, then %d", before, after)
	}
	e.sim.SetFault(exosim.OpListAPIKeys, exosim.Fault{ErrorRate: 1, ErrorStatus: 503})
	code, stdout, stderr = runCLI("validate", "--online", e.config)
	if code != 1 || strings.Count(stdout+stderr, "HTTP 503") != 1 {
		t.Errorf("validate --online with the API failing = %d; want 1 and the error once:\n%s\n%s", code, stdout, stderr)
	}
}
