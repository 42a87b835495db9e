package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rotatord/rotatord/state"
)

// commandTimeout bounds every rotatord command a test runs to completion.
const commandTimeout = 2 * time.Minute

// env is one test's world: an exosim, a directory with the admin secret,
// the policy file, the state directory, an output directory for sinks, and
// a logs directory keeping stdout and stderr of every rotatord run.
type env struct {
	t        *testing.T
	dir      string
	sim      *sim
	config   string // the policy file
	stateDir string
	out      string // sinks write here
	logs     string
	secret   string // file holding the admin secret
	seq      atomic.Int32
	// extraEnv is added to the environment of the rotatord commands run
	// to completion (e.g. ROTATORD_TEST_CLOCK_OFFSET).
	extraEnv []string
}

// newEnv starts an exosim seeded with keys and prepares the directories. It
// skips the test under -short.
func newEnv(t *testing.T, keys ...seedKey) *env {
	t.Helper()
	if testing.Short() || rotatordBin == "" {
		t.Skip("integration test: runs the real binaries; skipped with -short")
	}
	if len(keys) == 0 {
		keys = defaultKeys
	}
	dir := t.TempDir()
	e := &env{
		t:        t,
		dir:      dir,
		config:   filepath.Join(dir, "policy.yml"),
		stateDir: filepath.Join(dir, "state"),
		out:      filepath.Join(dir, "out"),
		logs:     filepath.Join(dir, "logs"),
		secret:   filepath.Join(dir, "admin-secret"),
	}
	for _, d := range []string{e.out, e.logs} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	e.sim = startSim(t, dir, keys)
	writeFile(t, e.secret, e.sim.Admin.Secret+"\n", 0o600)
	return e
}

// policyFile returns a policy file for this env around the given
// `policies:` entries. In policies, $OUT stands for the sink directory.
func (e *env) policyFile(policies string) string {
	return fmt.Sprintf(`exoscale:
  endpoint: %s
  api_key: %s
  api_secret_file: %s
  timeout: 10s
state_dir: %s
listen: 127.0.0.1:0
policies:
%s`, e.sim.Endpoint, e.sim.Admin.Key, e.secret, e.stateDir, strings.ReplaceAll(policies, "$OUT", e.out))
}

// writePolicy (re)writes the policy file atomically.
func (e *env) writePolicy(policies string) {
	e.t.Helper()
	writeFileAtomic(e.t, e.config, e.policyFile(policies))
}

// result is the outcome of a finished rotatord command.
type result struct {
	args           []string
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("rotatord %s: exit %d\n--- stdout:\n%s--- stderr:\n%s", strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

// logs parses stderr as JSON log lines (other lines are skipped).
func (r result) logs() []logLine { return parseLogs(r.stderr) }

// logPaths returns fresh files under the logs directory for one process.
func (e *env) logPaths(cmd string) (stdout, stderr string) {
	n := e.seq.Add(1)
	base := filepath.Join(e.logs, fmt.Sprintf("%03d-%s", n, cmd))
	return base + ".stdout", base + ".stderr"
}

// rotatord runs `rotatord CMD --config POLICY ARGS...` to completion.
func (e *env) rotatord(cmd string, args ...string) result {
	e.t.Helper()
	return e.rotatordWith(e.config, cmd, args...)
}

func (e *env) rotatordWith(config, cmd string, args ...string) result {
	e.t.Helper()
	full := append([]string{cmd, "--config", config}, args...)
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	stdoutPath, stderrPath := e.logPaths(cmd)
	stdout, stderr := createFile(e.t, stdoutPath), createFile(e.t, stderrPath)
	c := exec.CommandContext(ctx, rotatordBin, full...)
	if len(e.extraEnv) > 0 {
		c.Env = append(os.Environ(), e.extraEnv...)
	}
	c.Stdout, c.Stderr = stdout, stderr
	err := c.Run()
	stdout.Close()
	stderr.Close()
	r := result{args: full, stdout: readFile(e.t, stdoutPath), stderr: readFile(e.t, stderrPath)}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit) && exit.Exited():
		r.code = exit.ExitCode()
	case ctx.Err() != nil:
		e.t.Fatalf("rotatord %s: still running after %s\n%s", strings.Join(full, " "), commandTimeout, r)
	default:
		e.t.Fatalf("rotatord %s: %v\n%s", strings.Join(full, " "), err, r)
	}
	checkNoRace(e.t, r.stderr)
	return r
}

// mustRun runs a command that must exit 0.
func (e *env) mustRun(cmd string, args ...string) result {
	e.t.Helper()
	r := e.rotatord(cmd, args...)
	if r.code != 0 {
		e.t.Fatalf("want exit 0\n%s", r)
	}
	return r
}

func createFile(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func checkNoRace(t *testing.T, stderr string) {
	t.Helper()
	if strings.Contains(stderr, "WARNING: DATA RACE") {
		t.Errorf("the race detector found a data race in rotatord:\n%s", stderr)
	}
}

// logLine is one JSON log line of rotatord.
type logLine map[string]any

func (l logLine) str(key string) string {
	s, _ := l[key].(string)
	return s
}

func (l logLine) msg() string { return l.str("msg") }

func (l logLine) String() string {
	data, _ := json.Marshal(map[string]any(l))
	return string(data)
}

func parseLogs(text string) []logLine {
	var out []logLine
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] != '{' {
			continue
		}
		var l logLine
		if json.Unmarshal(line, &l) == nil {
			out = append(out, l)
		}
	}
	return out
}

// findLog returns the first line with message msg whose fields include
// every key/value pair of kv.
func findLog(lines []logLine, msg string, kv ...string) (logLine, bool) {
	for _, l := range lines {
		if l.msg() != msg {
			continue
		}
		match := true
		for i := 0; i+1 < len(kv); i += 2 {
			if l.str(kv[i]) != kv[i+1] {
				match = false
				break
			}
		}
		if match {
			return l, true
		}
	}
	return nil, false
}

func countLogs(lines []logLine, msg string, kv ...string) int {
	n := 0
	for i := range lines {
		if _, ok := findLog(lines[i:i+1], msg, kv...); ok {
			n++
		}
	}
	return n
}

// daemonProc is a running `rotatord run`.
type daemonProc struct {
	t          *testing.T
	e          *env
	cmd        *exec.Cmd
	stderrPath string
	done       chan struct{} // closed when the process has exited
	exitCode   int           // valid once done is closed; -1 when killed by a signal
	addr       string        // host:port of the HTTP server
}

// startDaemon starts `rotatord run --config POLICY ARGS...`, its JSON logs
// going to a file, and waits until it listens.
func (e *env) startDaemon(args ...string) *daemonProc {
	e.t.Helper()
	return e.startDaemonEnv(nil, args...)
}

// startDaemonEnv is startDaemon with variables added to the environment.
func (e *env) startDaemonEnv(environ []string, args ...string) *daemonProc {
	e.t.Helper()
	full := append([]string{"run", "--config", e.config}, args...)
	stdoutPath, stderrPath := e.logPaths("run")
	stdout, stderr := createFile(e.t, stdoutPath), createFile(e.t, stderrPath)
	defer stdout.Close()
	defer stderr.Close()
	c := exec.Command(rotatordBin, full...)
	c.Stdout, c.Stderr = stdout, stderr
	if environ != nil {
		c.Env = append(os.Environ(), environ...)
	}
	if err := c.Start(); err != nil {
		e.t.Fatalf("start rotatord run: %v", err)
	}
	d := &daemonProc{t: e.t, e: e, cmd: c, stderrPath: stderrPath, done: make(chan struct{})}
	go func() {
		err := c.Wait()
		var exit *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &exit):
			d.exitCode = exit.ExitCode()
		default:
			d.exitCode = -2
		}
		close(d.done)
	}()
	e.t.Cleanup(func() {
		if d.running() {
			_ = d.cmd.Process.Kill()
			<-d.done
		}
		checkNoRace(e.t, d.stderr())
	})
	l := d.waitLog(30*time.Second, "rotatord started")
	d.addr = l.str("listen")
	if d.addr == "" {
		e.t.Fatalf("rotatord started without a listen address: %v", l)
	}
	return d
}

func (d *daemonProc) stderr() string { return readFile(d.t, d.stderrPath) }

func (d *daemonProc) logs() []logLine { return parseLogs(d.stderr()) }

func (d *daemonProc) running() bool {
	select {
	case <-d.done:
		return false
	default:
		return true
	}
}

// waitLog waits for a log line (see findLog) and returns it.
func (d *daemonProc) waitLog(timeout time.Duration, msg string, kv ...string) logLine {
	d.t.Helper()
	var found logLine
	eventually(d.t, timeout, func() (bool, string) {
		l, ok := findLog(d.logs(), msg, kv...)
		if ok {
			found = l
			return true, ""
		}
		if !d.running() {
			d.t.Fatalf("rotatord exited (code %d) while waiting for log %q %v:\n%s", d.exitCode, msg, kv, d.stderr())
		}
		return false, fmt.Sprintf("no log %q %v in:\n%s", msg, kv, d.stderr())
	})
	return found
}

func (d *daemonProc) signal(sig os.Signal) {
	d.t.Helper()
	if err := d.cmd.Process.Signal(sig); err != nil {
		d.t.Fatalf("signal %v: %v", sig, err)
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (d *daemonProc) kill() {
	d.t.Helper()
	_ = d.cmd.Process.Signal(syscall.SIGKILL)
	d.waitExit(10 * time.Second)
}

// waitExit waits for the process to exit and returns its exit code.
func (d *daemonProc) waitExit(timeout time.Duration) int {
	d.t.Helper()
	select {
	case <-d.done:
		return d.exitCode
	case <-time.After(timeout):
		d.t.Fatalf("rotatord still running %s later:\n%s", timeout, d.stderr())
		return 0
	}
}

// stop sends SIGTERM and requires a clean exit.
func (d *daemonProc) stop() {
	d.t.Helper()
	d.signal(syscall.SIGTERM)
	if code := d.waitExit(45 * time.Second); code != 0 {
		d.t.Fatalf("rotatord exited %d after SIGTERM, want 0:\n%s", code, d.stderr())
	}
}

// http makes one request to the daemon's HTTP server.
func (d *daemonProc) http(method, path string) (int, string) {
	d.t.Helper()
	req, err := http.NewRequest(method, "http://"+d.addr+path, nil)
	if err != nil {
		d.t.Fatal(err)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		d.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		d.t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp.StatusCode, string(body)
}

// metrics returns the body of GET /metrics.
func (d *daemonProc) metrics() string {
	d.t.Helper()
	code, body := d.http(http.MethodGet, "/metrics")
	if code != http.StatusOK {
		d.t.Fatalf("GET /metrics: %d: %s", code, body)
	}
	return body
}

// metricValue returns the value of the series written exactly as series
// (name plus labels, e.g. `rotatord_rotations_total{account="default",policy="ci",result="success"}`).
func metricValue(body, series string) (float64, bool) {
	for _, line := range strings.Split(body, "\n") {
		rest, ok := strings.CutPrefix(line, series+" ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
		return v, err == nil
	}
	return 0, false
}

// eventually polls cond every 100ms until it holds, failing the test with
// cond's last explanation after timeout.
func eventually(t *testing.T, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not true within %s: %s", timeout, why)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// record is the part of a state record the tests look at.
type record struct {
	Policy       string `json:"policy"`
	Name         string `json:"name"`
	CurrentKeyID string `json:"current_key_id"`
	Rotation     *struct {
		Phase       string    `json:"phase"`
		OldKeyIDs   []string  `json:"old_key_ids"`
		NewKeyID    string    `json:"new_key_id"`
		DeleteAfter time.Time `json:"delete_after"`
	} `json:"rotation"`
	Failures  int    `json:"failures"`
	LastError string `json:"last_error"`
}

// records reads every state record, by key name, as rotatord would load
// them: the record files and the write-ahead log over them (a running or
// killed rotatord may have steps only in the log).
func (e *env) records() map[string]record {
	e.t.Helper()
	out := map[string]record{}
	st, err := state.OpenReadOnly(e.stateDir)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, full := range st.List("") {
		if full.Policy == state.OrganizationPolicy {
			continue // not a key name's (the credentials checked)
		}
		b, err := json.Marshal(full)
		if err != nil {
			e.t.Fatal(err)
		}
		var r record
		if err := json.Unmarshal(b, &r); err != nil {
			e.t.Fatalf("state record %s: %v", full.Name, err)
		}
		out[r.Name] = r
	}
	return out
}

// tableRow is one line of the outcome table `once` and `plan` print, by
// column header (POLICY, NAME, KEYS, ACTION, REASON, NEXT, ERROR).
type tableRow map[string]string

// parseTable reads the outcome table from stdout. Columns are aligned, so
// each cell starts where its header does.
func parseTable(t *testing.T, stdout string) []tableRow {
	t.Helper()
	lines := strings.Split(strings.TrimRight(stdout, "\n"), "\n")
	want := []string{"POLICY", "NAME", "KEYS", "ACTION", "REASON", "NEXT", "ERROR"}
	header := -1
	for i, l := range lines {
		if strings.HasPrefix(l, "POLICY ") {
			header = i
			break
		}
	}
	if header < 0 {
		t.Fatalf("no outcome table in stdout:\n%s", stdout)
	}
	if strings.Contains(lines[header], " RESULT ") { // once's table
		want = slices.Insert(want, 4, "RESULT")
	}
	var starts []int
	for _, col := range want {
		i := strings.Index(lines[header], col)
		if i < 0 || (len(starts) > 0 && i <= starts[len(starts)-1]) {
			t.Fatalf("outcome table header %q lacks column %s", lines[header], col)
		}
		starts = append(starts, i)
	}
	var rows []tableRow
	for _, l := range lines[header+1:] {
		row := tableRow{}
		for c, col := range want {
			if starts[c] >= len(l) {
				continue
			}
			end := len(l)
			if c+1 < len(starts) && starts[c+1] < end {
				end = starts[c+1]
			}
			row[col] = strings.TrimSpace(l[starts[c]:end])
		}
		rows = append(rows, row)
	}
	return rows
}

// row returns the table row of a key name.
func row(t *testing.T, rows []tableRow, name string) tableRow {
	t.Helper()
	for _, r := range rows {
		if r["NAME"] == name {
			return r
		}
	}
	t.Fatalf("no row for %s in %v", name, rows)
	return nil
}

// indent prefixes every line of s with n spaces.
func indent(s string, n int) string {
	pad := strings.Repeat(" ", n)
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i := range lines {
		lines[i] = pad + lines[i]
	}
	return strings.Join(lines, "\n") + "\n"
}

func mkdir(t *testing.T, path string) {
	t.Helper()
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
}

// readDirNames lists a directory's entries.
func readDirNames(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names, err
}

// summary renders log lines compactly (time, level, message and the
// fields that tell rotations apart), for failure messages.
func summary(lines []logLine) string {
	var b strings.Builder
	for _, l := range lines {
		ts := l.str("ts")
		if len(ts) > 23 {
			ts = ts[11:23]
		}
		fmt.Fprintf(&b, "%s %-5s %s", ts, l.str("level"), l.msg())
		for _, k := range []string{"name", "reason", "step", "key_id", "old_key_ids", "error"} {
			if v, ok := l[k]; ok {
				fmt.Fprintf(&b, " %s=%v", k, v)
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}
