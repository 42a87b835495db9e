package integration

import (
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSecretsStaySecret drives rotatord through rotations, a failing sink,
// a lost create, pending deletions, rejected and accepted reloads of a
// policy file with an inline secret, then fetches every secret the
// simulator ever issued and requires that none appears in anything rotatord
// printed (stdout and stderr of every command, debug logs included), in
// any /metrics body, or in any file of the state directory; and that every
// sink file is mode 0600 with no temp file left behind.
func TestSecretsStaySecret(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	policies := `  - name: ci
    match: {name: "ci-*"}
    schedule: "@every 1s"
    max_age: 3s
    grace_period: 1s
    adopt: rotate
    sinks:
      - {type: file, path: "$OUT/{{.Name}}.json"}
      - {type: file, path: "$OUT/{{.Name}}.env", format: env}
      - {type: file, path: "$OUT/{{.Name}}.toml", format: exoscale-toml}
      - type: file
        path: "$OUT/{{.Name}}.conf"
        format: template
        template: |
` + indent(testTemplate, 10) + `  - name: backup
    match: {name: backup-agent}
    schedule: "@every 1s"
    adopt: rotate
    sinks:
      - {type: file, path: "$OUT/missing/{{.Name}}.json"}
`
	e.writePolicy(policies)
	debug := "--log-level=debug"
	var metricsBodies []string

	// --file-only: the backup sink's directory is missing on purpose, which
	// validate reports when it checks the host.
	e.mustRun("validate", "--file-only", debug)
	e.mustRun("plan", debug)
	if r := e.rotatord("once", "--force", debug); r.code != 1 {
		t.Fatalf("once with the backup sink missing: want exit 1\n%s", r)
	}

	start := time.Now()
	d := e.startDaemon(debug, "--web.enable-lifecycle")
	// Rotations by age every ~3s; then a lost create, a failed listing and
	// slow deletions on top.
	d.waitLog(20*time.Second, "old key deleted", "name", "ci-runner")
	e.sim.setFaults(`{"create-api-key": {"lose_response_next": 1}, "list-api-keys": {"error_next": 1}, "delete-api-key": {"pending_polls": 1}}`)
	d.waitLog(30*time.Second, "create outcome unknown: looking for a key created without its secret")
	t.Logf("%s: create answer lost", time.Since(start))
	eventually(t, 30*time.Second, func() (bool, string) {
		if len(metricsBodies) < 5 {
			metricsBodies = append(metricsBodies, d.metrics())
		}
		// ci-deploy backs off after its lost create; ci-runner goes on.
		n := countLogs(d.logs(), "rotation delivered")
		return n >= 3, fmt.Sprintf("%d rotations delivered", n)
	})
	t.Logf("%s: enough rotations", time.Since(start))
	for _, p := range []string{"/healthz", "/readyz"} {
		d.http(http.MethodGet, p)
	}

	// Reloads of a file that holds the admin secret inline: one rejected
	// (a mistake elsewhere, and one on the secret's own line), one taken.
	inline := strings.Replace(e.policyFile(policies), "api_secret_file: "+e.secret, "api_secret: "+e.sim.Admin.Secret, 1)
	if !strings.Contains(inline, "api_secret: "+e.sim.Admin.Secret) {
		t.Fatal("inline secret not substituted")
	}
	for _, bad := range []string{
		strings.Replace(inline, "max_age: 3s", "max_age: 3 seconds", 1),
		strings.Replace(inline, "api_secret: "+e.sim.Admin.Secret, "api_secret: \""+e.sim.Admin.Secret, 1),
		strings.Replace(inline, "api_secret: "+e.sim.Admin.Secret, "api_secret: ["+e.sim.Admin.Secret+"]", 1),
		strings.Replace(inline, "state_dir:", "api_secret_file: "+e.secret+"\nstate_dir:", 1),
	} {
		writeFileAtomic(t, e.config, bad)
		if code, body := d.http(http.MethodPost, "/-/reload"); code != http.StatusBadRequest {
			t.Errorf("POST /-/reload of a bad file: %d %s", code, body)
		} else {
			metricsBodies = append(metricsBodies, body) // scanned like the rest
		}
		e.rotatord("validate", debug)
		d.signal(syscall.SIGHUP)
	}
	writeFileAtomic(t, e.config, inline)
	if code, body := d.http(http.MethodPost, "/-/reload"); code != http.StatusOK {
		t.Errorf("POST /-/reload of a good file with an inline secret: %d %s", code, body)
	}
	e.mustRun("validate", "--file-only", debug)
	metricsBodies = append(metricsBodies, d.metrics())
	d.stop()
	e.sim.clearFaults()
	e.rotatord("once", debug)
	e.mustRun("plan", debug)

	// Every secret ever issued, and rotatord's own.
	secrets := map[string]string{e.sim.Admin.Secret: e.sim.Admin.Key}
	for _, k := range e.sim.keys() {
		secrets[k.Secret] = k.Key
	}
	if len(secrets) < 9 { // 4 seeded, 2 by once, an orphan, 2 by the daemon
		t.Fatalf("only %d secrets issued: the scenario did not run", len(secrets))
	}
	scanned := map[string]string{}
	logFiles, _ := readDirNames(e.logs)
	for _, f := range logFiles {
		scanned["output "+f] = readFile(t, filepath.Join(e.logs, f))
	}
	for i, b := range metricsBodies {
		scanned[fmt.Sprintf("metrics body %d", i)] = b
	}
	err := filepath.WalkDir(e.stateDir, func(path string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		scanned["state file "+path] = readFile(t, path)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var total int
	for where, text := range scanned {
		total += len(text)
		for s, key := range secrets {
			// The first 16 characters catch a truncated secret too.
			if strings.Contains(text, s) || strings.Contains(text, s[:16]) {
				t.Errorf("%s contains the secret of key %s", where, key)
			}
		}
	}
	t.Logf("scanned %d secrets in %d outputs, metrics bodies and state files (%d bytes)", len(secrets), len(scanned), total)
	if !strings.Contains(scanned["output "+logFiles[len(logFiles)-1]], "POLICY") {
		t.Errorf("the scan did not see the last command's output")
	}

	// Sink files: mode 0600, and no temp file left.
	err = filepath.WalkDir(e.out, func(path string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		fi, err := os.Stat(path)
		if err != nil {
			return err
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("sink file %s: mode %#o, want 0600", path, fi.Mode().Perm())
		}
		if strings.HasPrefix(de.Name(), ".") {
			t.Errorf("temp file left in the sink directory: %s", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Every sink of a name holds the same live, working key.
	for _, n := range []string{"ci-runner", "ci-deploy"} {
		held := map[string]bool{}
		for ext, format := range map[string]string{"json": "json", "env": "env", "toml": "exoscale-toml", "conf": "template"} {
			held[e.checkSink(filepath.Join(e.out, n+"."+ext), format, n, 0o600)] = true
		}
		if len(held) != 1 {
			t.Errorf("%s: the sinks hold different keys %v", n, held)
		}
	}
	e.sim.checkMaxLive(2, "ci-runner", "ci-deploy")
}
