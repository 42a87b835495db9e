package integration

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// selfPolicy is the policy name rotatord's own key rotates under.
const selfPolicy = "_self"

// ownEnv is an env whose rotatord reads its credential from a JSON file
// (exoscale.credential_file) and may rotate it (exoscale.own_key).
type ownEnv struct {
	*env
	credFile string
}

// newOwnEnv starts an exosim and writes the admin credential into a
// credential file of its own directory.
func newOwnEnv(t *testing.T, keys ...seedKey) *ownEnv {
	t.Helper()
	e := newEnv(t, keys...)
	dir := filepath.Join(e.dir, "credential")
	mkdir(t, dir)
	o := &ownEnv{env: e, credFile: filepath.Join(dir, "rotatord.json")}
	data, err := json.Marshal(credential{Key: e.sim.Admin.Key, Secret: e.sim.Admin.Secret})
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, o.credFile, string(data), 0o600)
	return o
}

// ownConfig is a policy file whose credential is the credential file,
// with own_key set to ownKey (a YAML flow mapping; empty for none).
func (o *ownEnv) ownConfig(ownKey, policies string) string {
	own := ""
	if ownKey != "" {
		own = "  own_key: " + ownKey + "\n"
	}
	return fmt.Sprintf(`exoscale:
  endpoint: %s
  credential_file: %s
  timeout: 10s
%sstate_dir: %s
listen: 127.0.0.1:0
policies:
%s`, o.sim.Endpoint, o.credFile, own, o.stateDir, strings.ReplaceAll(policies, "$OUT", o.out))
}

func (o *ownEnv) writeOwnConfig(ownKey, policies string) {
	o.t.Helper()
	writeFileAtomic(o.t, o.config, o.ownConfig(ownKey, policies))
}

// stored returns the credential the credential file holds now.
func (o *ownEnv) stored() credential {
	o.t.Helper()
	c, ok := readSink(o.t, o.credFile, "json")
	if !ok {
		o.t.Fatalf("credential file %s is gone", o.credFile)
	}
	return c
}

// checkStored requires the credential file to be mode 0600, to hold a live
// key named like the admin that authenticates, with no temp file left
// beside it, and returns that credential.
func (o *ownEnv) checkStored() credential {
	o.t.Helper()
	c := o.stored()
	fi, err := os.Stat(o.credFile)
	if err != nil {
		o.t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		o.t.Errorf("credential file: mode %#o, want 0600", fi.Mode().Perm())
	}
	k, ok := o.sim.key(c.Key)
	switch {
	case !ok:
		o.t.Errorf("credential file holds %s, unknown to the simulator", c.Key)
	case !k.Alive:
		o.t.Errorf("credential file holds %s, which was deleted", c.Key)
	case k.Name != adminName || k.RoleID != roleAdmin:
		o.t.Errorf("credential file holds %s named %q role %s, want %q role %s", c.Key, k.Name, k.RoleID, adminName, roleAdmin)
	}
	if !o.sim.authenticates(c.Key, c.Secret) {
		o.t.Errorf("the credential file's key %s and secret do not authenticate", c.Key)
	}
	names, err := readDirNames(filepath.Dir(o.credFile))
	if err != nil {
		o.t.Fatal(err)
	}
	if len(names) != 1 {
		o.t.Errorf("credential directory holds %v, want only %s", names, filepath.Base(o.credFile))
	}
	return c
}

// logTime parses the ISO 8601 times rotatord logs (ts, delete_old_after).
func logTime(t *testing.T, l logLine, field string) time.Time {
	t.Helper()
	s := l.str(field)
	for _, layout := range []string{"2006-01-02T15:04:05.000Z0700", time.RFC3339Nano} {
		if ts, err := time.Parse(layout, s); err == nil {
			return ts
		}
	}
	t.Fatalf("log field %s = %q: not a time (%v)", field, s, l)
	return time.Time{}
}

// waitLogAfter waits for a log line (see findLog) logged after since.
func (d *daemonProc) waitLogAfter(timeout time.Duration, since time.Time, msg string, kv ...string) logLine {
	d.t.Helper()
	var found logLine
	eventually(d.t, timeout, func() (bool, string) {
		for _, l := range d.logs() {
			if _, ok := findLog([]logLine{l}, msg, kv...); ok && logTime(d.t, l, "ts").After(since) {
				found = l
				return true, ""
			}
		}
		if !d.running() {
			d.t.Fatalf("rotatord exited (code %d) while waiting for log %q %v:\n%s", d.exitCode, msg, kv, d.stderr())
		}
		return false, fmt.Sprintf("no log %q %v after %s in:\n%s", msg, kv, since.Format(time.RFC3339Nano), summary(d.logs()))
	})
	return found
}

// metricSum adds up the series of metric name whose labels include every
// one of labels (each written name="value"), whatever other labels they have.
func metricSum(body, name string, labels ...string) float64 {
	var sum float64
	for _, line := range strings.Split(body, "\n") {
		rest, ok := strings.CutPrefix(line, name+"{")
		if !ok {
			continue
		}
		set, value, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		have := strings.Split(set, ",")
		if !all(labels, func(l string) bool { return slices.Contains(have, l) }) {
			continue
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(value), 64); err == nil {
			sum += v
		}
	}
	return sum
}

func all(xs []string, f func(string) bool) bool {
	for _, x := range xs {
		if !f(x) {
			return false
		}
	}
	return true
}

// authErrors returns the log lines that say the API refused rotatord's
// credential or signature.
func authErrors(lines []logLine) []logLine {
	var out []logLine
	for _, l := range lines {
		text := l.String()
		if strings.Contains(text, "Invalid request signature") || strings.Contains(text, ": auth (HTTP") ||
			strings.Contains(text, "unknown or deleted API key") {
			out = append(out, l)
		}
	}
	return out
}

func checkNoAuthErrors(t *testing.T, what string, lines []logLine) {
	t.Helper()
	if bad := authErrors(lines); len(bad) > 0 {
		t.Errorf("%s: the API refused rotatord's credential:\n%s", what, summary(bad))
	}
}

// checkNoSecretLeak requires that no secret the simulator ever issued (nor
// its first 16 characters) appears in any output of rotatord kept under the
// logs directory, nor in any file of the state directory.
func (o *ownEnv) checkNoSecretLeak(extra ...string) {
	o.t.Helper()
	secrets := map[string]string{o.sim.Admin.Secret: o.sim.Admin.Key}
	for _, k := range o.sim.keys() {
		secrets[k.Secret] = k.Key
	}
	for _, s := range extra {
		secrets[s] = "(extra)"
	}
	scanned := map[string]string{}
	logFiles, _ := readDirNames(o.logs)
	for _, f := range logFiles {
		scanned["output "+f] = readFile(o.t, filepath.Join(o.logs, f))
	}
	err := filepath.WalkDir(o.stateDir, func(path string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		scanned["state file "+path] = readFile(o.t, path)
		return nil
	})
	if err != nil {
		o.t.Fatal(err)
	}
	if len(scanned) < 2 {
		o.t.Fatalf("only %d outputs and state files to scan: the scenario did not run", len(scanned))
	}
	for where, text := range scanned {
		for s, key := range secrets {
			if s == "" {
				continue
			}
			if strings.Contains(text, s) || strings.Contains(text, s[:min(16, len(s))]) {
				o.t.Errorf("%s contains the secret of key %s", where, key)
			}
		}
	}
}

// ownCIPolicy rotates ci-runner by age every few seconds.
const ownCIPolicy = `  - name: ci
    match: {name: ci-runner}
    schedule: "@every 1s"
    max_age: 3s
    grace_period: 0s
    adopt: rotate
    sinks:
      - {type: file, path: "$OUT/{{.Name}}.json"}
`

// ownQuietPolicy matches ci-runner and never rotates it during a test.
const ownQuietPolicy = `  - name: ci
    match: {name: ci-runner}
    schedule: "@every 1h"
    max_age: 30d
    sinks:
      - {type: file, path: "$OUT/{{.Name}}.json"}
`

// TestOwnKeyRotatedByRun: `rotatord run` with credential_file and own_key
// rotates its own key on schedule: the credential file then holds a new
// key of the admin's name and role (mode 0600) that authenticates; the old
// key stays alive through the grace period and is deleted after it, not
// before; rotatord keeps working with the new key (a ci policy rotates
// after the old key is gone); a new process reads the new key from the
// file and works (run and once); the admin's name ends with one live key,
// never had more than two; and no secret shows in any output or state file.
func TestOwnKeyRotatedByRun(t *testing.T) {
	t.Parallel()
	o := newOwnEnv(t)
	const grace = 3 * time.Second
	o.writeOwnConfig(`{schedule: "@every 1s", max_age: 2s, grace_period: 3s}`, ownCIPolicy)
	old := o.sim.Admin
	start := time.Now()

	d := o.startDaemon()
	l := d.waitLog(30*time.Second, "rotation delivered", "policy", selfPolicy, "name", adminName)
	checked := time.Now()
	newID := l.str("key_id")
	deleteAfter := logTime(t, l, "delete_old_after")
	t.Logf("%s: own key rotated %s -> %s", time.Since(start).Round(time.Millisecond), old.Key, newID)
	if newID == "" || newID == old.Key {
		t.Fatalf("rotation delivered with key_id %q (old %s)", newID, old.Key)
	}
	for _, step := range []struct{ msg, step string }{
		{"rotation started", "intent"}, {"replacement created", "created"}, {"delivered", "delivered"},
		{"signing with the new key", "switched"}, {"rotation delivered", "confirmed"},
	} {
		kv := []string{"policy", selfPolicy, "name", adminName, "step", step.step}
		if step.step != "intent" {
			kv = append(kv, "key_id", newID)
		}
		if _, ok := findLog(d.logs(), step.msg, kv...); !ok {
			t.Errorf("no log %q %v\n%s", step.msg, kv, summary(d.logs()))
		}
	}
	if got := deleteAfter.Sub(logTime(t, l, "ts")); got < grace-100*time.Millisecond || got > grace+time.Second {
		t.Errorf("delete_old_after is %s after the delivery, want the grace period %s", got, grace)
	}
	c := o.checkStored()
	if c.Key != newID {
		t.Errorf("credential file holds %s, want the new key %s", c.Key, newID)
	}
	// During the grace period both keys are alive and work.
	if checked.Before(deleteAfter.Add(-500 * time.Millisecond)) {
		if k, _ := o.sim.key(old.Key); !k.Alive || !o.sim.authenticates(old.Key, old.Secret) {
			t.Errorf("the old own key %s is gone during its grace period (until %s)", old.Key, deleteAfter.Format(time.RFC3339Nano))
		}
		if live := o.sim.live(adminName); len(live) != 2 {
			t.Errorf("%s: live keys %v during the grace period, want the old and the new one", adminName, ids(live))
		}
	} else {
		t.Logf("checked %s after the grace began: too late to see both keys alive", checked.Sub(deleteAfter.Add(-grace)))
	}

	// The old key goes once the grace period is over, not before.
	del := d.waitLog(20*time.Second, "old key deleted", "policy", selfPolicy, "key_id", old.Key)
	if at := logTime(t, del, "ts"); at.Before(deleteAfter) {
		t.Errorf("old own key deleted at %s, before the end of its grace period %s", at.Format(time.RFC3339Nano), deleteAfter.Format(time.RFC3339Nano))
	}
	if k, ok := o.sim.key(old.Key); !ok || k.Alive {
		t.Errorf("old own key %s: alive %v after its deletion was logged", old.Key, k.Alive)
	}
	if o.sim.authenticates(old.Key, old.Secret) {
		t.Error("the old own key still authenticates after its deletion")
	}

	// rotatord goes on working, signing with its new key: the ci policy
	// rotates after the old key is gone, and again after a reload (which
	// reads the credential file again).
	d.waitLogAfter(20*time.Second, logTime(t, del, "ts"), "rotation delivered", "policy", "ci", "name", "ci-runner")
	o.checkSink(filepath.Join(o.out, "ci-runner.json"), "json", "ci-runner", 0o600)
	d.signal(syscall.SIGHUP)
	reloaded := d.waitLogAfter(10*time.Second, logTime(t, del, "ts"), "configuration reloaded")
	d.waitLogAfter(20*time.Second, logTime(t, reloaded, "ts"), "rotation delivered", "policy", "ci", "name", "ci-runner")
	o.checkSink(filepath.Join(o.out, "ci-runner.json"), "json", "ci-runner", 0o600)
	body := d.metrics()
	if v := metricSum(body, "rotatord_rotations_total", `policy="_self"`, `result="success"`); v < 1 {
		t.Errorf(`rotatord_rotations_total{policy="_self",result="success"} = %v, want >= 1`, v)
	}
	if v := metricSum(body, "rotatord_rotations_total", `policy="_self"`, `result="failure"`); v != 0 {
		t.Errorf(`rotatord_rotations_total{policy="_self",result="failure"} = %v, want 0`, v)
	}
	d.stop()
	checkNoAuthErrors(t, "first process", d.logs())
	selfRotations := countLogs(d.logs(), "rotation delivered", "policy", selfPolicy)
	t.Logf("%s: first process stopped after %d own-key rotations", time.Since(start).Round(time.Millisecond), selfRotations)

	// A new process reads the newest key from the file and works with it;
	// own_key stays on (the grace deletion of a rotation the first process
	// may have left goes on) with a max_age it will not reach.
	held := o.stored()
	o.writeOwnConfig(`{schedule: "@every 1s", max_age: 1h, grace_period: 3s}`, ownCIPolicy)
	d2 := o.startDaemon()
	eventually(t, 20*time.Second, func() (bool, string) {
		live := o.sim.live(adminName)
		return len(live) == 1 && live[0].Key == held.Key, fmt.Sprintf("%s: live keys %v, want only %s", adminName, ids(live), held.Key)
	})
	d2.waitLogAfter(20*time.Second, time.Now(), "rotation delivered", "policy", "ci", "name", "ci-runner")
	d2.stop()
	checkNoAuthErrors(t, "second process", d2.logs())
	if n := countLogs(d2.logs(), "rotation started", "policy", selfPolicy); n != 0 {
		t.Errorf("the second process rotated its own key %d times, want 0 (max_age 1h)", n)
	}

	r := o.mustRun("once")
	checkNoAuthErrors(t, "once", r.logs())
	if got := row(t, parseTable(t, r.stdout), adminName); got["POLICY"] != selfPolicy || got["ACTION"] != "none" || got["ERROR"] != "-" {
		t.Errorf("once: row %v, want policy %s, no action, no error", got, selfPolicy)
	}
	final := o.checkStored()
	if final.Key != held.Key {
		t.Errorf("credential file holds %s, want %s: changed with max_age 1h", final.Key, held.Key)
	}
	if got := o.sim.only(adminName); got.Key != final.Key {
		t.Errorf("%s: live key %s, credential file holds %s", adminName, got.Key, final.Key)
	}
	if n := createdNamed(o.env, adminName); n != selfRotations+1 {
		t.Errorf("%d keys named %s ever existed, want %d (the seed and one per rotation)", n, adminName, selfRotations+1)
	}
	o.sim.checkMaxLive(2, adminName)
	o.checkNoSecretLeak()
}

// ownCrashKey rotates the own key one second after rotatord first sees it;
// ownSettledKey is the own_key of the restarted process: the rotation in
// flight finishes, and none starts.
const (
	ownCrashKey   = `{schedule: "@every 1s", max_age: 1s, grace_period: 3s}`
	ownSettledKey = `{schedule: "@every 1s", max_age: 1h, grace_period: 3s}`
)

// TestOwnKeyKillDuringRotation kills `rotatord run` with SIGKILL at each
// step of its own key's rotation, restarts it without faults, and requires
// what a crash must not change: rotatord authenticates at once with what
// the credential file holds (no refusal logged), the admin's name settles
// on one live key, the one the file holds, that authenticates, with no
// rotation left in flight; and at no moment were more than two keys of the
// name alive.
func TestOwnKeyKillDuringRotation(t *testing.T) {
	t.Parallel()
	selfLog := func(kv ...string) []string {
		return append([]string{"policy", selfPolicy, "name", adminName}, kv...)
	}
	tests := []struct {
		name   string
		faults string
		// killWhen waits for the moment to kill.
		killWhen func(o *ownEnv, d *daemonProc)
		// afterKill checks what the kill left; killed is what the
		// credential file holds then.
		afterKill func(o *ownEnv, d *daemonProc, old, killed credential)
		// beforeRestart, when set, runs before the daemon restarts.
		beforeRestart func(o *ownEnv)
		// wantKilled says the name settles on the key the file held at
		// the kill; else on the old key.
		wantKilled bool
		// defect, when set, skips the case: it fails for that reason.
		defect string
		// unsettled: the restarted daemon is not waited on to finish the
		// rotation (a failure's backoff delays it past the test), only to
		// make passes.
		unsettled bool
		// afterRestart checks the logs of the restarted daemon.
		afterRestart func(o *ownEnv, d *daemonProc, old, killed credential)
	}{
		{
			// The create request is in flight: the key may be created
			// for a process that is gone. The file keeps the old key; the
			// restart rolls the intent back and deletes any such key.
			name:   "create-in-flight",
			faults: `{"create-api-key": {"latency": "3s"}}`,
			killWhen: func(o *ownEnv, d *daemonProc) {
				d.waitLog(20*time.Second, "rotation started", selfLog("step", "intent")...)
				o.waitCreatesReceived(1) // the request reaches the simulator
			},
			afterKill: func(o *ownEnv, d *daemonProc, old, killed credential) {
				eventually(o.t, 30*time.Second, func() (bool, string) {
					c := o.sim.calls()["create-api-key"]
					return c.Total == 1, fmt.Sprintf("create calls %+v: not finished", c)
				})
				o.t.Logf("create calls after the kill: %+v", o.sim.calls()["create-api-key"])
				if killed.Key != old.Key {
					o.t.Errorf("credential file holds %s after a kill before any delivery, want the old key", killed.Key)
				}
				if r := o.records()[adminName]; r.Rotation == nil || r.Rotation.Phase != "intent" {
					o.t.Errorf("%s: rotation %+v after the kill, want phase intent", adminName, r.Rotation)
				}
			},
			afterRestart: func(o *ownEnv, d *daemonProc, old, killed credential) {
				d.waitLog(10*time.Second, "recovering interrupted rotation", selfLog("phase", "intent")...)
				if c := o.sim.calls()["create-api-key"]; c.ByStatus["200"] > 0 {
					d.waitLog(10*time.Second, "deleted key created without a delivered secret", selfLog()...)
				}
			},
		},
		{
			// The credential file holds the new key and rotatord signs
			// with it; the confirmation is in flight: its GET answers 404
			// (a stale view of the API), and the listing it falls back on
			// takes 3s. The restart reads the new key and finishes that
			// rotation, making no other key.
			name:   "confirm-in-flight",
			faults: `{"get-api-key": {"stale_for": "1m"}, "list-api-keys": {"latency": "3s"}}`,
			killWhen: func(o *ownEnv, d *daemonProc) {
				d.waitLog(30*time.Second, "delivered", selfLog("step", "delivered")...)
				d.waitLog(30*time.Second, "signing with the new key", selfLog()...)
				eventually(o.t, 30*time.Second, func() (bool, string) {
					c := o.sim.calls()["get-api-key"]
					return c.ByStatus["404"] >= 1, fmt.Sprintf("get-api-key calls %+v: no confirming GET answered yet", c)
				})
				time.Sleep(500 * time.Millisecond) // the listing reaches the simulator
				if _, ok := findLog(d.logs(), "rotation delivered", selfLog()...); ok {
					o.t.Fatal("the rotation was confirmed before the kill")
				}
			},
			afterKill: func(o *ownEnv, d *daemonProc, old, killed credential) {
				if killed.Key == old.Key {
					o.t.Errorf("credential file holds the old key after the delivery")
				}
				if r := o.records()[adminName]; r.Rotation == nil || r.Rotation.Phase != "created" || r.Rotation.NewKeyID != killed.Key {
					o.t.Errorf("%s: rotation %+v after the kill, want phase created of %s", adminName, r.Rotation, killed.Key)
				}
			},
			wantKilled: true,
			afterRestart: func(o *ownEnv, d *daemonProc, old, killed credential) {
				d.waitLog(10*time.Second, "recovering interrupted rotation", selfLog("phase", "created")...)
				if n := createdNamed(o.env, adminName); n != 2 {
					o.t.Errorf("%d keys named %s ever existed, want 2", n, adminName)
				}
			},
		},
		{
			// Killed as soon as rotatord says it signs with the new key,
			// before its first request with it (the confirming GET takes
			// 2s to answer).
			name:   "just-switched",
			faults: `{"get-api-key": {"latency": "2s"}}`,
			killWhen: func(o *ownEnv, d *daemonProc) {
				d.waitLog(30*time.Second, "signing with the new key", selfLog("step", "switched")...)
			},
			afterKill: func(o *ownEnv, d *daemonProc, old, killed credential) {
				if r := o.records()[adminName]; r.Rotation == nil || r.Rotation.Phase != "created" || r.Rotation.NewKeyID != killed.Key || killed.Key == old.Key {
					o.t.Errorf("%s: rotation %+v after the kill (file holds %s), want phase created of the key the file holds", adminName, r.Rotation, killed.Key)
				}
			},
			wantKilled: true,
			afterRestart: func(o *ownEnv, d *daemonProc, old, killed credential) {
				if n := createdNamed(o.env, adminName); n != 2 {
					o.t.Errorf("%d keys named %s ever existed, want 2", n, adminName)
				}
			},
		},
		{
			// The confirmation failed (the GET signed with the new key
			// answered 500 to every attempt): rotatord switched back to
			// the old key, while the file holds the new one. Killed then,
			// the restart reads the new key and must work with it.
			name:   "confirm-failed",
			faults: `{"get-api-key": {"error_next": 5, "error_status": 500}}`,
			killWhen: func(o *ownEnv, d *daemonProc) {
				d.waitLog(30*time.Second, "signing with the new key", selfLog()...)
				d.waitLog(30*time.Second, "rotation failed", selfLog()...)
			},
			afterKill: func(o *ownEnv, d *daemonProc, old, killed credential) {
				r := o.records()[adminName]
				if r.Rotation == nil || r.Rotation.Phase != "created" || r.Rotation.NewKeyID != killed.Key || killed.Key == old.Key {
					o.t.Errorf("%s: rotation %+v after the kill (file holds %s), want phase created of the key the file holds", adminName, r.Rotation, killed.Key)
				}
				l, _ := findLog(d.logs(), "rotation failed", selfLog()...)
				if !strings.Contains(l.str("error"), "confirm new key") {
					o.t.Errorf("rotation failed with %q, want a failed confirmation", l.str("error"))
				}
			},
			// run backs off a minute after the failure; once retries now.
			beforeRestart: func(o *ownEnv) {
				r := o.mustRun("once")
				checkNoAuthErrors(o.t, "once after the kill", r.logs())
			},
			wantKilled: true,
		},
		{
			// The API applies the create 8 s late: the new key cannot
			// sign until then, so it must not reach the credential file
			// before it does. Killed while rotatord waits for it: the
			// file still holds the old key, and the restart rolls the
			// new one back (deleting it again once it has applied).
			name:   "create-applies-late",
			faults: `{"create-api-key": {"late_apply": "8s"}}`,
			killWhen: func(o *ownEnv, d *daemonProc) {
				d.waitLog(30*time.Second, "replacement created", selfLog()...)
				time.Sleep(1500 * time.Millisecond)
			},
			afterKill: func(o *ownEnv, d *daemonProc, old, killed credential) {
				if killed.Key != old.Key {
					o.t.Errorf("the credential file holds %s before the new key can sign, want the old %s", killed.Key, old.Key)
				}
			},
			wantKilled: false,
		},
		{
			// The rotation is confirmed; the old key is in its grace
			// period. The restart deletes it after the grace period.
			name: "grace-period",
			killWhen: func(o *ownEnv, d *daemonProc) {
				d.waitLog(30*time.Second, "rotation delivered", selfLog("step", "confirmed")...)
			},
			afterKill: func(o *ownEnv, d *daemonProc, old, killed credential) {
				if k, _ := o.sim.key(old.Key); !k.Alive {
					o.t.Errorf("old own key deleted before the end of its grace period")
				}
				if r := o.records()[adminName]; r.Rotation == nil || r.Rotation.Phase != "delivered" || r.Rotation.NewKeyID != killed.Key {
					o.t.Errorf("%s: rotation %+v after the kill, want phase delivered of %s", adminName, r.Rotation, killed.Key)
				}
			},
			wantKilled: true,
			afterRestart: func(o *ownEnv, d *daemonProc, old, killed credential) {
				d.waitLog(10*time.Second, "old key deleted", selfLog("key_id", old.Key)...)
			},
		},
		{
			// The old key's deletion is pending when the process dies.
			name:   "delete-pending",
			faults: `{"delete-api-key": {"pending_polls": 3}}`,
			killWhen: func(o *ownEnv, d *daemonProc) {
				d.waitLog(30*time.Second, "rotation delivered", selfLog()...)
				eventually(o.t, 20*time.Second, func() (bool, string) {
					return o.sim.calls()["get-operation"].Total >= 1, "no operation polled yet"
				})
			},
			afterKill: func(o *ownEnv, d *daemonProc, old, killed credential) {
				if k, _ := o.sim.key(old.Key); !k.Alive {
					o.t.Logf("the old key's deletion completed before the kill")
				}
			},
			wantKilled: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.defect != "" {
				t.Skip("defect: " + tt.defect)
			}
			o := newOwnEnv(t)
			o.writeOwnConfig(ownCrashKey, ownQuietPolicy)
			old := o.sim.Admin
			if tt.faults != "" {
				o.sim.setFaults(tt.faults)
			}

			d1 := o.startDaemon()
			tt.killWhen(o, d1)
			d1.kill()
			killed := o.stored()
			t.Logf("killed; the file holds %s (old %s); live %v", killed.Key, old.Key, ids(o.sim.live(adminName)))
			tt.afterKill(o, d1, old, killed)
			if k, ok := o.sim.key(killed.Key); !ok || !k.Alive || !o.sim.authenticates(killed.Key, killed.Secret) {
				t.Errorf("after the kill the credential file holds %s, which does not authenticate", killed.Key)
			}
			o.sim.clearFaults()

			o.writeOwnConfig(ownSettledKey, ownQuietPolicy)
			if tt.beforeRestart != nil {
				tt.beforeRestart(o)
			}
			d2 := o.startDaemon()
			want := old.Key
			if tt.wantKilled {
				want = killed.Key
			}
			if tt.unsettled {
				eventually(t, 20*time.Second, func() (bool, string) {
					n := countLogs(d2.logs(), "pass done") + countLogs(d2.logs(), "pass failed")
					return n >= 3, fmt.Sprintf("%d passes", n)
				})
				got := o.checkStored()
				if live := o.sim.live(adminName); len(live) > 2 || !slices.Contains(ids(live), got.Key) {
					t.Errorf("%s: live %v, the credential file holds %s", adminName, ids(live), got.Key)
				}
			} else {
				eventually(t, 30*time.Second, func() (bool, string) {
					live := o.sim.live(adminName)
					r := o.records()[adminName]
					if len(live) != 1 || live[0].Key != want || r.Rotation != nil {
						return false, fmt.Sprintf("%s: live %v, want only %s; rotation %+v\n%s", adminName, ids(live), want, r.Rotation, summary(d2.logs()))
					}
					return true, ""
				})
				if got := o.checkStored(); got.Key != want {
					t.Errorf("credential file holds %s, the live key is %s", got.Key, want)
				}
			}
			if tt.afterRestart != nil {
				tt.afterRestart(o, d2, old, killed)
			}
			d2.stop()
			checkNoAuthErrors(t, "restarted process", d2.logs())
			if n := countLogs(d2.logs(), "rotation started", selfLog()...); n != 0 {
				t.Errorf("the restarted process started %d own-key rotations, want 0", n)
			}
			if !tt.unsettled {
				r := o.mustRun("once")
				checkNoAuthErrors(t, "once", r.logs())
			}
			o.sim.checkMaxLive(2, adminName)
			t.Logf("max live per name: %v", o.sim.maxLive())
			o.checkNoSecretLeak()
		})
	}
}

// TestOwnKeyWaitsForOtherRotations: the own key rotates only when no
// other rotation is in flight. A ci rotation left half delivered (its
// second sink fails after the create) keeps `once --force` from rotating
// the own key; once the sink works, the same pass finishes the ci rotation
// and then rotates the own key, last; with grace_period 0s the old own key
// is deleted at once, by a request signed with the new one, and the next
// process works with the new key.
func TestOwnKeyWaitsForOtherRotations(t *testing.T) {
	t.Parallel()
	o := newOwnEnv(t)
	policy := func(tmpl string) string {
		return `  - name: ci
    match: {name: ci-runner}
    grace_period: 0s
    adopt: rotate
    sinks:
      - {type: file, path: "$OUT/{{.Name}}.json"}
      - type: file
        path: "$OUT/{{.Name}}.conf"
        format: template
        template: |
` + indent(tmpl, 10)
	}
	const ownKey = `{schedule: "@every 1h", max_age: 30d, grace_period: 0s}`
	o.writeOwnConfig(ownKey, policy(failingTemplate))
	old := o.sim.Admin

	r := o.rotatord("once", "--force")
	if r.code == 0 {
		t.Fatalf("once with a failing ci sink exited 0\n%s", r)
	}
	rows := parseTable(t, r.stdout)
	if got := row(t, rows, "ci-runner"); got["ERROR"] == "-" {
		t.Errorf("ci-runner: row %v, want the sink's failure", got)
	}
	if got := row(t, rows, adminName); got["POLICY"] != selfPolicy || got["ACTION"] != "none" ||
		got["REASON"] != "rotatord's own key rotates only when no other rotation is in flight" {
		t.Errorf("own key: row %v, want no action while ci-runner's rotation is in flight\n%s", got, r)
	}
	if rec := o.records()["ci-runner"]; rec.Rotation == nil || rec.Rotation.Phase != "created" {
		t.Fatalf("ci-runner: rotation %+v, want one left in phase created", rec.Rotation)
	}
	if c := o.checkStored(); c.Key != old.Key {
		t.Errorf("credential file holds %s, want the old key: the own key rotated beside a rotation in flight", c.Key)
	}
	if n := createdNamed(o.env, adminName); n != 1 {
		t.Errorf("%d keys named %s ever existed, want 1", n, adminName)
	}
	checkNoAuthErrors(t, "once", r.logs())

	o.writeOwnConfig(ownKey, policy(testTemplate))
	r = o.mustRun("once", "--force")
	rows = parseTable(t, r.stdout)
	if got := row(t, rows, "ci-runner"); got["ERROR"] != "-" {
		t.Errorf("ci-runner: row %v, want its rotation finished", got)
	}
	if got := row(t, rows, adminName); got["ACTION"] != "rotate" || got["ERROR"] != "-" {
		t.Errorf("own key: row %v, want a rotation once ci-runner's is done\n%s", got, r)
	}
	lines := r.logs()
	ciDone, selfStart := -1, -1
	for i, l := range lines {
		if _, ok := findLog([]logLine{l}, "rotation delivered", "policy", "ci", "name", "ci-runner"); ok && ciDone < 0 {
			ciDone = i
		}
		if _, ok := findLog([]logLine{l}, "rotation started", "policy", selfPolicy); ok && selfStart < 0 {
			selfStart = i
		}
	}
	if ciDone < 0 || selfStart < 0 || selfStart < ciDone {
		t.Errorf("want ci-runner's rotation delivered before the own key's starts (lines %d, %d):\n%s", ciDone, selfStart, summary(lines))
	}
	c := o.checkStored()
	if c.Key == old.Key {
		t.Fatal("the credential file still holds the old key")
	}
	if got := o.sim.only(adminName); got.Key != c.Key {
		t.Errorf("%s: live key %s, the file holds %s", adminName, got.Key, c.Key)
	}
	if o.sim.authenticates(old.Key, old.Secret) {
		t.Error("the old own key still authenticates after a rotation with grace 0s")
	}
	checkSettled(o.env, "ci-runner", "", map[string]string{
		filepath.Join(o.out, "ci-runner.json"): "json", filepath.Join(o.out, "ci-runner.conf"): "template",
	})
	checkNoAuthErrors(t, "once --force", r.logs())

	r = o.mustRun("once")
	checkNoAuthErrors(t, "once with the new key", r.logs())
	if got := row(t, parseTable(t, r.stdout), adminName); got["ACTION"] != "none" || got["ERROR"] != "-" {
		t.Errorf("own key: row %v after the rotation, want nothing to do", got)
	}
	o.sim.checkMaxLive(2, adminName, "ci-runner")
	o.checkNoSecretLeak()
}

// TestOwnKeyCatchAllPolicy: with own_key on, a policy matching every name
// (and so the admin's name, which here also holds a key of another role)
// never handles rotatord's own key: `once --force` rotates it under
// _self only, into the credential file; the catch-all policy's sinks never
// receive a key of the admin's role; and the next process works.
func TestOwnKeyCatchAllPolicy(t *testing.T) {
	t.Parallel()
	o := newOwnEnv(t, seedKey{"ci-runner", "ci"}, seedKey{adminName, "readonly"})
	o.writeOwnConfig(`{schedule: "@every 1h", max_age: 30d, grace_period: 0s}`, `  - name: all
    match: {name: "*"}
    adopt: rotate
    grace_period: 0s
    sinks:
      - {type: file, path: "$OUT/{{.Name}}.json"}
`)
	old := o.sim.Admin
	adminRole := func() []string {
		var out []string
		for _, k := range o.sim.live(adminName) {
			if k.RoleID == roleAdmin {
				out = append(out, k.Key)
			}
		}
		return out
	}
	checkCatchAllSink := func(what string) {
		t.Helper()
		c, ok := readSink(t, filepath.Join(o.out, adminName+".json"), "json")
		if !ok {
			return
		}
		if k, _ := o.sim.key(c.Key); k.RoleID == roleAdmin || c.Secret == old.Secret || c.Key == o.stored().Key {
			t.Errorf("%s: the catch-all policy's sink holds %s of role %s: rotatord's own credential went to a policy's sink", what, c.Key, k.RoleID)
		}
	}

	r := o.mustRun("once", "--force")
	checkNoAuthErrors(t, "once --force", r.logs())
	rows := parseTable(t, r.stdout)
	var selfRows int
	for _, rw := range rows {
		if rw["NAME"] == adminName && rw["POLICY"] == selfPolicy {
			selfRows++
			if rw["ACTION"] != "rotate" || rw["ERROR"] != "-" {
				t.Errorf("own key: row %v, want rotated", rw)
			}
		}
	}
	if selfRows != 1 {
		t.Errorf("%d rows of policy %s, want 1:\n%s", selfRows, selfPolicy, r.stdout)
	}
	for _, l := range r.logs() {
		if l.str("policy") == "all" && (l.str("key_id") == old.Key || strings.Contains(l.String(), old.Key)) {
			t.Errorf("the catch-all policy acted on rotatord's own key: %v", l)
		}
	}
	c := o.checkStored()
	if c.Key == old.Key {
		t.Fatal("the own key was not rotated")
	}
	if got := adminRole(); len(got) != 1 || got[0] != c.Key {
		t.Errorf("live keys of the admin's role %v, want only %s, the one the file holds", got, c.Key)
	}
	checkCatchAllSink("after the rotation")

	r = o.mustRun("once")
	checkNoAuthErrors(t, "once with the new key", r.logs())
	checkCatchAllSink("after the next pass")
	if got := adminRole(); len(got) != 1 || got[0] != o.stored().Key {
		t.Errorf("live keys of the admin's role %v, want only the one the file holds", got)
	}
	o.checkNoSecretLeak()
}

// TestOwnKeyNameLeftToSelf: the README says the own key's name and role
// select it "and no other policy ever manages that name" (and, of
// rotatord's own key in general, that a policy matching its name skips that
// name). With a catch-all policy and a key of another role sharing the
// admin's name, the catch-all policy must leave every key of that name
// alone (no rotation, no sink file), and the own key must go on rotating
// under _self, pass after pass.
func TestOwnKeyNameLeftToSelf(t *testing.T) {
	t.Parallel()
	o := newOwnEnv(t, seedKey{"ci-runner", "ci"}, seedKey{adminName, "readonly"})
	o.writeOwnConfig(`{schedule: "@every 1h", max_age: 30d, grace_period: 0s}`, `  - name: all
    match: {name: "*"}
    adopt: rotate
    grace_period: 0s
    sinks:
      - {type: file, path: "$OUT/{{.Name}}.json"}
`)
	var other simKey
	for _, k := range o.sim.live(adminName) {
		if k.RoleID == roleReadonly {
			other = k
		}
	}
	if other.Key == "" {
		t.Fatalf("seed: no key of role readonly named %s", adminName)
	}
	prev := o.sim.Admin.Key
	for _, args := range [][]string{{"once"}, {"once", "--force"}, {"once", "--force"}} {
		r := o.mustRun(args[0], args[1:]...)
		var self tableRow
		for _, rw := range parseTable(t, r.stdout) {
			if rw["NAME"] != adminName {
				continue
			}
			if rw["POLICY"] == selfPolicy {
				self = rw
			} else if rw["ACTION"] != "skip" {
				t.Errorf("%v: row %v: policy %s manages the admin's name", args, rw, rw["POLICY"])
			}
		}
		if args[len(args)-1] == "--force" {
			if self["ACTION"] != "rotate" || self["ERROR"] != "-" {
				t.Errorf("%v: own key row %v, want rotated\n%s", args, self, r)
			}
			if c := o.checkStored(); c.Key == prev {
				t.Errorf("%v: the credential file still holds %s", args, prev)
			} else {
				prev = c.Key
			}
		}
	}
	if k, _ := o.sim.key(other.Key); !k.Alive {
		t.Errorf("the %s key of role readonly was rotated away by the catch-all policy", adminName)
	}
	if _, held := readSink(t, filepath.Join(o.out, adminName+".json"), "json"); held {
		t.Errorf("the catch-all policy wrote a sink file for %s", adminName)
	}
}

// TestOwnKeyStoreUnwritable: when the credential store cannot be written
// (its directory became writable by all, which the file store refuses),
// the own key's rotation fails before any key is created, the file and the
// key stay as they were, the failure is counted under _self, and rotatord
// goes on working with its key; once the directory is fixed, the next
// pass rotates.
func TestOwnKeyStoreUnwritable(t *testing.T) {
	t.Parallel()
	o := newOwnEnv(t)
	dir := filepath.Dir(o.credFile)
	o.writeOwnConfig(`{schedule: "@every 1s", max_age: 3s, grace_period: 0s}`, ownCIPolicy)
	old := o.sim.Admin
	before := readFile(t, o.credFile)

	d := o.startDaemon()
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	fail := d.waitLog(20*time.Second, "rotation failed", "policy", selfPolicy, "name", adminName)
	if !strings.Contains(fail.str("error"), dir) {
		t.Errorf("rotation failed with %q, want it to name the directory %s", fail.str("error"), dir)
	}
	if _, ok := findLog(d.logs(), "replacement created", "policy", selfPolicy); ok {
		t.Error("a key was created although the store cannot be written")
	}
	if n := createdNamed(o.env, adminName); n != 1 {
		t.Errorf("%d keys named %s ever existed, want 1", n, adminName)
	}
	if got := readFile(t, o.credFile); got != before {
		t.Error("the credential file changed")
	}
	d.waitLogAfter(20*time.Second, logTime(t, fail, "ts"), "rotation delivered", "policy", "ci", "name", "ci-runner")
	if v := metricSum(d.metrics(), "rotatord_rotations_total", `policy="_self"`, `result="failure"`); v < 1 {
		t.Errorf(`rotatord_rotations_total{policy="_self",result="failure"} = %v, want >= 1`, v)
	}
	d.stop()
	checkNoAuthErrors(t, "run", d.logs())
	if got := o.sim.only(adminName); got.Key != old.Key {
		t.Errorf("%s: live key %s, want the old one", adminName, got.Key)
	}

	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	r := o.mustRun("once")
	if got := row(t, parseTable(t, r.stdout), adminName); got["ACTION"] != "rotate" || got["ERROR"] != "-" {
		t.Errorf("own key: row %v once the directory is fixed, want rotated\n%s", got, r)
	}
	c := o.checkStored()
	if c.Key == old.Key {
		t.Error("the credential file still holds the old key")
	}
	if got := o.sim.only(adminName); got.Key != c.Key {
		t.Errorf("%s: live key %s, the file holds %s", adminName, got.Key, c.Key)
	}
	o.mustRun("once")
	o.checkNoSecretLeak()
}
