package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Found by review: `validate --file-only` is documented as "Check the file
// alone, not what depends on this host (credential files, sink directories,
// owners, state_dir): for a CI step checking a file meant for another
// machine". A sink owner that exists only on the target host failed
// it, without a line number (daemon.CheckSinks built the file sinks,
// which looked the owner up, whatever --file-only said).
func TestValidateFileOnlyLeavesOwnersToTheHost(t *testing.T) {
	dir := t.TempDir()
	policy := writeFile(t, filepath.Join(dir, "policy.yml"), `exoscale:
  api_key: EXO0123456789abcdef01234567
  api_secret: not-checked-here
state_dir: state
policies:
  - name: ci
    match: {name: "ci-*"}
    sinks:
      - type: file
        path: "/srv/ci/{{.Name}}.json"
        owner: ci-user-only-on-the-target-host
        group: ci-group-only-on-the-target-host
        mode: "0640"
`)
	code, stdout, stderr := runCLI("validate", "--file-only", policy)
	if code != 0 {
		t.Errorf("validate --file-only = %d, stdout %q, stderr %q; want 0 (owners are the host's business)", code, stdout, stderr)
	}
}

// Found by review: `validate` says "Exits 1 if run would refuse the file",
// but a file that strands a rotation in flight (its policy removed) passes
// validate, even with --online, while `run` refuses to start with it
// ("rotations in flight would be stranded") and a reload rejects it.
// The systemd unit's ExecReload relies on validate.
func TestValidateRefusesAFileRunRefusesForItsJournal(t *testing.T) {
	e := newSimEnv(t, "")
	body, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	// grace_period 1h: the rotation stays in flight (delivered).
	withGrace := strings.Replace(string(body), "grace_period: 0s", "grace_period: 1h", 1)
	writeFile(t, e.config, withGrace)
	if code, stdout, stderr := runCLI("once", "--force", "--config.file", e.config); code != 0 {
		t.Fatalf("once --force = %d\n%s\n%s", code, stdout, stderr)
	}
	// The policy ci is renamed: its rotations in flight would be stranded.
	writeFile(t, e.config, strings.Replace(withGrace, "name: ci\n", "name: other\n", 1))
	code, stdout, stderr := runCLI("once", "--config.file", e.config)
	if code == 0 || !strings.Contains(stdout+stderr, "stranded") {
		t.Fatalf("once with the renamed policy = %d, want a refusal: %s %s", code, stdout, stderr)
	}
	for _, args := range [][]string{{"validate", e.config}, {"validate", "--online", e.config}} {
		code, stdout, stderr := runCLI(args...)
		if code != 1 {
			t.Errorf("%v = %d, want 1 (run refuses the file); stdout %q stderr %q", args, code, stdout, stderr)
		}
	}
}

// Found by review: README (RotatordRotationStuck, RotatordRotationsFailing):
// "The landing page and `rotatord plan` show the name and its last
// error"; "`rotatord plan` name[s] the failing step". After a failed
// rotation plan says "backing off after a failure" with ERROR "-": the
// record's last_error is never shown.
func TestPlanShowsTheLastFailure(t *testing.T) {
	e := newSimEnv(t, "")
	if err := os.Remove(filepath.Join(e.dir, "out")); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI("once", "--force", "--config.file", e.config)
	if code != 1 || !strings.Contains(stdout, "does not exist") {
		t.Fatalf("once with a missing sink directory = %d\n%s\n%s", code, stdout, stderr)
	}
	_, stdout, stderr = runCLI("plan", "--config.file", e.config)
	if !strings.Contains(stdout, "does not exist") {
		t.Errorf("plan after a failed rotation does not show its last error:\n%s\n%s", stdout, stderr)
	}
}
