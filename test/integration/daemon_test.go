package integration

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const reloadSeries = "rotatord_config_last_reload_successful"

// waitMetric waits until series has value want on /metrics.
func (d *daemonProc) waitMetric(series string, want float64, within time.Duration) {
	d.t.Helper()
	eventually(d.t, within, func() (bool, string) {
		body := d.metrics()
		v, ok := metricValue(body, series)
		return ok && v == want, fmt.Sprintf("%s = %v (present %v), want %v", series, v, ok, want)
	})
}

// TestReload: SIGHUP with an invalid policy file keeps the daemon running
// on the old policies and reports the failure (metric, log naming the file
// and line); POST /-/reload (--web.enable-lifecycle) rejects it with 400,
// without details; a valid file with a second policy is then taken, and the
// new policy acts.
func TestReload(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ciPolicy := `  - name: ci
    match: {name: "ci-*"}
    schedule: "@every 1h"
    max_age: 1h
    sinks:
      - {type: file, path: "$OUT/{{.Name}}.json"}
`
	e.writePolicy(ciPolicy)
	d := e.startDaemon("--web.enable-lifecycle")
	d.waitMetric(reloadSeries, 1, 10*time.Second)

	bad := e.policyFile(strings.Replace(ciPolicy, "max_age: 1h", "max_age: banana", 1))
	wantLoc := fmt.Sprintf("%s:%d: policies[0].max_age", e.config, lineOf(t, bad, "max_age: banana"))
	writeFileAtomic(t, e.config, bad)
	d.signal(syscall.SIGHUP)
	d.waitMetric(reloadSeries, 0, 10*time.Second)
	l := d.waitLog(5*time.Second, "reload rejected; keeping the previous configuration")
	if l.str("config") != e.config || !strings.Contains(l.str("error"), wantLoc) {
		t.Errorf("reload error log %v: want config %s and an error at %s", l, e.config, wantLoc)
	}
	if code, body := d.http(http.MethodGet, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz after a rejected reload: %d %s", code, body)
	}
	code, body := d.http(http.MethodPost, "/-/reload")
	if code != http.StatusBadRequest || strings.Contains(body, e.config) {
		t.Errorf("POST /-/reload with a bad file: %d %q, want 400 without details", code, body)
	}
	if !d.running() {
		t.Fatalf("rotatord exited after a rejected reload:\n%s", d.stderr())
	}

	e.writePolicy(ciPolicy + `  - name: backup
    match: {name: backup-agent}
    schedule: "@every 1s"
    max_age: 1h
    grace_period: 0s
    adopt: rotate
    sinks:
      - {type: file, path: "$OUT/backup/{{.Name}}.env", format: env}
`)
	mkdir(t, filepath.Join(e.out, "backup"))
	old := e.sim.only("backup-agent")
	d.signal(syscall.SIGHUP)
	d.waitMetric(reloadSeries, 1, 10*time.Second)
	l = d.waitLog(5*time.Second, "configuration reloaded")
	if l["policies"] != float64(2) {
		t.Errorf("reload log %v, want 2 policies", l)
	}
	// The new policy runs on its schedule.
	path := filepath.Join(e.out, "backup", "backup-agent.env")
	eventually(t, 20*time.Second, func() (bool, string) {
		k, _ := e.sim.key(old.Key)
		_, held := readSink(t, path, "env")
		return held && !k.Alive, "backup-agent not rotated by the reloaded policy"
	})
	e.checkSink(path, "env", "backup-agent", 0o600)
	if code, body := d.http(http.MethodPost, "/-/reload"); code != http.StatusOK {
		t.Errorf("POST /-/reload with a good file: %d %q", code, body)
	}
	if v, _ := metricValue(d.metrics(), `rotatord_policy_max_age_seconds{account="default",policy="backup"}`); v != 3600 {
		t.Errorf("metrics do not show the reloaded policy's max_age: %v", v)
	}
	d.stop()
}

func lineOf(t *testing.T, text, substr string) int {
	t.Helper()
	for i, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) {
			return i + 1
		}
	}
	t.Fatalf("%q not in %s", substr, text)
	return 0
}

// TestValidate: validate exits 1 and prints file:line: field: problem for
// each mistake of a bad file, and 0 for a good one.
func TestValidate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	good := `  - name: ci
    match: {name: "ci-*"}
    max_age: 30d
    sinks:
      - {type: file, path: "$OUT/{{.Name}}.json"}
`
	e.writePolicy(good)
	r := e.mustRun("validate")
	if want := e.config + ": valid (1 policies)"; strings.TrimSpace(r.stdout) != want {
		t.Errorf("validate stdout %q, want %q", r.stdout, want)
	}

	badText := e.policyFile(`  - name: ci
    match: {name: "ci-*"}
    max_age: banana
    colour: blue
    sinks:
      - {type: file, path: "$OUT/{{.Name}}.json", format: yaml}
`)
	writeFileAtomic(t, e.config, badText)
	r = e.rotatord("validate")
	if r.code != 1 {
		t.Fatalf("validate of a bad file: want exit 1\n%s", r)
	}
	for _, want := range []string{
		fmt.Sprintf("%s:%d: policies[0].max_age: ", e.config, lineOf(t, badText, "max_age: banana")),
		fmt.Sprintf("%s:%d: ", e.config, lineOf(t, badText, "colour: blue")),
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("validate stderr lacks %q\n%s", want, r)
		}
	}
	if strings.Contains(r.stdout, "valid") {
		t.Errorf("validate printed valid for a bad file\n%s", r)
	}
	// The semantic mistakes are all reported at once.
	badText = e.policyFile(`  - name: ci
    match: {name: "ci-*"}
    max_age: 0s
    sinks:
      - {type: file, path: "$OUT/{{.Name}}.json", format: yaml}
`)
	writeFileAtomic(t, e.config, badText)
	r = e.rotatord("validate")
	for _, want := range []string{
		fmt.Sprintf("%s:%d: policies[0].max_age: ", e.config, lineOf(t, badText, "max_age: 0s")),
		fmt.Sprintf("%s:%d: policies[0].sinks[0].format: ", e.config, lineOf(t, badText, "format: yaml")),
	} {
		if r.code != 1 || !strings.Contains(r.stderr, want) {
			t.Errorf("validate: want exit 1 and %q\n%s", want, r)
		}
	}

	r = e.rotatordWith(filepath.Join(e.dir, "absent.yml"), "validate")
	if r.code != 1 || !strings.Contains(r.stderr, "absent.yml") {
		t.Errorf("validate of a missing file: want exit 1 naming it\n%s", r)
	}
}

// TestValidateAgreesWithRun: a file validate accepts must be one the
// other commands can load. A content template that refers to a field the
// file sink does not provide parses (validate used to accept it) but fails
// when the sink is built, so `run`, `once` and `plan` refused to start.
func TestValidateAgreesWithRun(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.writePolicy(`  - name: ci
    match: {name: "ci-*"}
    sinks:
      - type: file
        path: "$OUT/{{.Name}}.conf"
        format: template
        template: |
          key = {{.KeyID}}
          secret = {{.Secret.Reveal}}
`)
	plan := e.rotatord("plan")
	validate := e.rotatord("validate")
	if (plan.code == 0) != (validate.code == 0) {
		t.Errorf("validate and plan disagree on the same file:\n%s\n%s", validate, plan)
	}
	if validate.code != 1 || !strings.Contains(validate.stderr, e.config) || !strings.Contains(validate.stderr, "KeyID") {
		t.Errorf("validate: want exit 1 naming the file and the unknown field\n%s", validate)
	}
}

// TestPlan prints what a pass would do, and why, and changes nothing.
func TestPlan(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.writePolicy(`  - name: ci
    match: {name: "ci-*"}
    adopt: rotate
    grace_period: 0s
    sinks:
      - {type: file, path: "$OUT/{{.Name}}.json"}
  - name: backup
    match: {name: backup-agent}
    adopt: wait
    max_age: 1h
    sinks:
      - {type: file, path: "$OUT/backup-{{.Name}}.json"}
`)
	before := e.sim.keys()
	r := e.mustRun("plan")
	rows := parseTable(t, r.stdout)
	if len(rows) != 3 {
		t.Errorf("plan printed %d rows, want 3 (ci-runner, ci-deploy, backup-agent):\n%s", len(rows), r.stdout)
	}
	for _, tt := range []struct{ name, policy, action, reason string }{
		{"ci-runner", "ci", "rotate", "age unknown (adopt: rotate)"},
		{"ci-deploy", "ci", "rotate", "age unknown (adopt: rotate)"},
		{"backup-agent", "backup", "none", "younger than max_age"},
	} {
		got := row(t, rows, tt.name)
		if got["POLICY"] != tt.policy || got["ACTION"] != tt.action || got["REASON"] != tt.reason || got["KEYS"] != "1" || got["ERROR"] != "-" {
			t.Errorf("plan row %v, want policy %s, 1 key, %s because %s, no error", got, tt.policy, tt.action, tt.reason)
		}
	}
	otherKeysUntouched(e, before, "ci-runner", "ci-deploy", "backup-agent", adminName)
	calls := e.sim.calls()
	for _, op := range []string{"create-api-key", "delete-api-key"} {
		if calls[op].Total != 0 {
			t.Errorf("plan made %d %s calls", calls[op].Total, op)
		}
	}
	if recs := e.records(); len(recs) != 0 {
		t.Errorf("plan wrote %d state records", len(recs))
	}
	if entries, _ := readDirNames(e.out); len(entries) != 0 {
		t.Errorf("plan wrote sink files %v", entries)
	}
	// plan's answer does not change by having run.
	if r2 := e.mustRun("plan"); len(parseTable(t, r2.stdout)) != 3 || row(t, parseTable(t, r2.stdout), "ci-runner")["ACTION"] != "rotate" {
		t.Errorf("second plan differs:\n%s", r2.stdout)
	}
}

// TestOwnKeyUntouched: a policy that matches every key, the admin key
// rotatord signs with included, rotates the others and skips the admin's
// name (and the other key sharing that name) with a warning.
func TestOwnKeyUntouched(t *testing.T) {
	t.Parallel()
	e := newEnv(t, seedKey{"ci-runner", "ci"}, seedKey{"backup-agent", "readonly"}, seedKey{adminName, "readonly"})
	e.writePolicy(`  - name: all
    match: {name: "*"}
    adopt: rotate
    grace_period: 0s
    sinks:
      - {type: file, path: "$OUT/{{.Name}}.json"}
`)
	before := e.sim.keys()
	var adminKeys []string
	for _, k := range before {
		if k.Name == adminName {
			adminKeys = append(adminKeys, k.Key)
		}
	}
	if len(adminKeys) != 2 {
		t.Fatalf("seed: want the admin key and another key named %s, got %v", adminName, adminKeys)
	}
	for _, args := range [][]string{{"plan"}, {"once"}, {"once", "--force"}} {
		r := e.mustRun(args[0], args[1:]...)
		got := row(t, parseTable(t, r.stdout), adminName)
		if got["ACTION"] != "skip" || got["REASON"] != "holds the key rotatord authenticates with" {
			t.Errorf("%v: row %v, want skip because it holds rotatord's key", args, got)
		}
		if args[0] == "plan" {
			continue
		}
		l, ok := findLog(r.logs(), "skipping key name", "name", adminName)
		if !ok || l.str("level") != "warn" {
			t.Errorf("%v: no warning about skipping %s (%v)\n%s", args, adminName, l, r)
		}
	}
	otherKeysUntouched(e, before, adminName)
	if _, held := readSink(t, filepath.Join(e.out, adminName+".json"), "json"); held {
		t.Errorf("a sink file was written for %s", adminName)
	}
	for _, k := range before {
		if k.Name == "ci-runner" || k.Name == "backup-agent" {
			checkSettled(e, k.Name, k.Key, map[string]string{filepath.Join(e.out, k.Name+".json"): "json"})
		}
	}
	// rotatord still authenticates with its key.
	e.mustRun("once")
}

// TestSIGTERM: the daemon exits 0 on SIGTERM, when idle at once, and in
// the middle of a rotation after letting it finish (within the 30s
// shutdown timeout).
func TestSIGTERM(t *testing.T) {
	t.Parallel()
	t.Run("idle", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.writePolicy(`  - name: ci
    match: {name: "ci-*"}
    sinks:
      - {type: file, path: "$OUT/{{.Name}}.json"}
`)
		d := e.startDaemon()
		d.waitLog(10*time.Second, "rotatord started")
		d.stop()
		d.waitLog(time.Second, "rotatord stopped")
	})
	t.Run("during-rotation", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.writePolicy(`  - name: ci
    match: {name: ci-runner}
    schedule: "@every 1s"
    grace_period: 1h
    adopt: rotate
    sinks:
      - {type: file, path: "$OUT/{{.Name}}.json"}
`)
		old := e.sim.only("ci-runner")
		e.sim.setFaults(`{"create-api-key": {"latency": "2s"}}`)
		d := e.startDaemon()
		d.waitLog(10*time.Second, "rotation started", "name", "ci-runner")
		stopped := time.Now()
		d.signal(syscall.SIGTERM)
		if code := d.waitExit(40 * time.Second); code != 0 {
			t.Fatalf("exit %d after SIGTERM, want 0:\n%s", code, d.stderr())
		}
		t.Logf("exited %s after SIGTERM", time.Since(stopped).Round(100*time.Millisecond))
		// The rotation in flight was finished, not abandoned.
		newID := e.checkSink(filepath.Join(e.out, "ci-runner.json"), "json", "ci-runner", 0o600)
		rec := e.records()["ci-runner"]
		if rec.Rotation == nil || rec.Rotation.Phase != "delivered" || rec.CurrentKeyID != newID {
			t.Errorf("state after SIGTERM: current %s rotation %+v, want the delivered %s", rec.CurrentKeyID, rec.Rotation, newID)
		}
		if k, _ := e.sim.key(old.Key); !k.Alive {
			t.Errorf("old key deleted during its grace period")
		}
		if _, ok := findLog(d.logs(), "rotatord stopped"); !ok {
			t.Errorf("no stop logged")
		}
	})
}

// TestStateDirLocked: a second rotatord that would change the state
// refuses a state directory in use; plan, which only reads it, works beside
// the daemon and sees its rotation.
func TestStateDirLocked(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.writePolicy(`  - name: ci
    match: {name: ci-runner}
    schedule: "@every 1h"
    grace_period: 1h
    adopt: rotate
    sinks:
      - {type: file, path: "$OUT/{{.Name}}.json"}
`)
	d := e.startDaemon()
	d.waitLog(20*time.Second, "rotation delivered", "name", "ci-runner")
	r := e.rotatord("once", "--force")
	if r.code == 0 || !strings.Contains(r.stderr, "in use by another rotatord") || !strings.Contains(r.stderr, e.stateDir) {
		t.Errorf("once next to a running daemon: want a refusal naming the state directory\n%s", r)
	}
	if c := e.sim.calls()["create-api-key"]; c.Total != 1 {
		t.Errorf("%d keys created, want 1 (the daemon's rotation)", c.Total)
	}
	r = e.mustRun("plan")
	if got := row(t, parseTable(t, r.stdout), "ci-runner"); got["ACTION"] != "none" || got["REASON"] != "grace period running" || got["KEYS"] != "2" {
		t.Errorf("plan beside the daemon: %v, want 2 keys, none, grace period running", got)
	}
	d.stop()
	e.mustRun("once")
}
