package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sinkCheckPolicy: ci-runner delivered to a JSON file and an env file,
// with sink_check on.
const sinkCheckPolicy = `  - name: ci
    match: {name: ci-runner}
    schedule: "@every 1s"
    grace_period: 0s
    sink_check: 1s
    sinks:
      - type: file
        path: $OUT/a/{{.Name}}.json
      - type: file
        path: $OUT/b/{{.Name}}.env
        format: env
`

// newSinkCheckEnv is an env with the sink directories of sinkCheckPolicy
// made and policy (sinkCheckPolicy or a variant) written; it returns the
// paths of ci-runner's JSON and env files.
func newSinkCheckEnv(t *testing.T, policy string) (e *env, jsonPath, envPath string) {
	t.Helper()
	e = newEnv(t)
	mkdir(t, filepath.Join(e.out, "a"))
	mkdir(t, filepath.Join(e.out, "b"))
	e.writePolicy(policy)
	return e, filepath.Join(e.out, "a", "ci-runner.json"), filepath.Join(e.out, "b", "ci-runner.env")
}

// TestSinkCheckOnce: `once` reads every sink; a file removed since the
// last rotation gets the current key back from the other sink, and when
// both are gone the name rotates.
func TestSinkCheckOnce(t *testing.T) {
	t.Parallel()
	e, jsonPath, envPath := newSinkCheckEnv(t, sinkCheckPolicy)
	e.mustRun("once", "--force")
	key := e.checkSink(jsonPath, "json", "ci-runner", 0o600)

	if err := os.Remove(jsonPath); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // past sink_check since the delivery
	r := e.mustRun("once")
	if got := e.checkSink(jsonPath, "json", "ci-runner", 0o600); got != key {
		t.Errorf("removed file holds %s after once, want the current key %s given back", got, key)
	}
	if n := createdNamed(e, "ci-runner"); n != 2 {
		t.Errorf("%d keys named ci-runner ever existed, want 2: a sink another can refill costs no key", n)
	}
	if _, ok := findLog(r.logs(), "a sink no longer holds the current key", "target", jsonPath); !ok {
		t.Errorf("no warning naming %s:\n%s", jsonPath, r.stderr)
	}
	c, _ := readSink(t, envPath, "env")
	if strings.Contains(r.stderr, c.Secret) || strings.Contains(r.stdout, c.Secret) {
		t.Error("the secret reached the output of once")
	}

	for _, p := range []string{jsonPath, envPath} {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	r = e.mustRun("once")
	fresh := e.checkSink(jsonPath, "json", "ci-runner", 0o600)
	if fresh == key {
		t.Fatalf("both files removed: sinks hold %s again, want a new key", key)
	}
	if got := e.checkSink(envPath, "env", "ci-runner", 0o600); got != fresh {
		t.Errorf("env file holds %s, json file %s", got, fresh)
	}
	if k, _ := e.sim.key(key); k.Alive {
		t.Errorf("old key %s alive after the rotation with grace 0", key)
	}
	out := row(t, parseTable(t, r.stdout), "ci-runner")
	if out["ACTION"] != "rotate" || out["REASON"] != "a sink lost the current key and no sink can give it back" {
		t.Errorf("outcome row %v, want a rotation for the lost key", out)
	}
	e.sim.checkMaxLive(2, "ci-runner")
}

// TestSinkCheckDaemon: the daemon gives a removed file its key back at a
// later pass and counts the loss in rotatord_sink_checks_total.
func TestSinkCheckDaemon(t *testing.T) {
	t.Parallel()
	e, jsonPath, _ := newSinkCheckEnv(t, sinkCheckPolicy)
	e.mustRun("once", "--force")
	key := e.checkSink(jsonPath, "json", "ci-runner", 0o600)

	d := e.startDaemon()
	d.waitLog(10*time.Second, "rotatord started")
	lost := `rotatord_sink_checks_total{account="default",policy="ci",sink="file#0",state="lost"}`
	if v, ok := metricValue(d.metrics(), lost); !ok || v != 0 {
		t.Errorf("%s = %v, %v before any loss; want 0, present", lost, v, ok)
	}
	eventually(t, 20*time.Second, func() (bool, string) {
		v, _ := metricValue(d.metrics(), `rotatord_sink_checks_total{account="default",policy="ci",sink="file#0",state="held"}`)
		return v >= 1, "no sink check counted"
	})
	if err := os.Remove(jsonPath); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, func() (bool, string) {
		_, err := os.Stat(jsonPath)
		return err == nil, "removed file not given back"
	})
	if got := e.checkSink(jsonPath, "json", "ci-runner", 0o600); got != key {
		t.Errorf("file holds %s, want %s", got, key)
	}
	if v, _ := metricValue(d.metrics(), lost); v != 1 {
		t.Errorf("%s = %v, want 1", lost, v)
	}
	d.stop()
	if n := createdNamed(e, "ci-runner"); n != 2 {
		t.Errorf("%d keys named ci-runner ever existed, want 2", n)
	}
}

// TestSinkCheckLeavesKeysFoundAlone: rotatord deployed with sink_check
// over keys it finds (adopt: wait): their files were never written by
// rotatord, so nothing was lost there. The checks of `once` make no key.
func TestSinkCheckLeavesKeysFoundAlone(t *testing.T) {
	t.Parallel()
	e, _, _ := newSinkCheckEnv(t, sinkCheckPolicy)
	e.mustRun("once")
	time.Sleep(1100 * time.Millisecond) // past sink_check
	r := e.mustRun("once")
	if n := createdNamed(e, "ci-runner"); n != 1 {
		t.Errorf("%d keys named ci-runner ever existed, want the one found: its age counts from first sight", n)
	}
	if _, ok := findLog(r.logs(), "a sink no longer holds the current key"); ok {
		t.Errorf("a loss logged for files rotatord never wrote:\n%s", r.stderr)
	}
}

// TestSinkCheckRewritesAFileWithAnEditedSecret: the env file still names
// the current key, but its secret was edited by hand: `once` writes it
// again from the JSON file, which holds what rotatord wrote; no new key.
func TestSinkCheckRewritesAFileWithAnEditedSecret(t *testing.T) {
	t.Parallel()
	e, jsonPath, envPath := newSinkCheckEnv(t, sinkCheckPolicy)
	e.mustRun("once", "--force")
	key := e.checkSink(envPath, "env", "ci-runner", 0o600)
	good, _ := readSink(t, jsonPath, "json")
	b, err := os.ReadFile(envPath)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(b), good.Secret, "edited-by-hand-"+good.Secret[:4], 1)
	if edited == string(b) {
		t.Fatal("setup: no secret in the env file to edit")
	}
	if err := os.WriteFile(envPath, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // past sink_check
	r := e.mustRun("once")
	if got, _ := readSink(t, envPath, "env"); got.Secret != good.Secret || got.Key != key {
		t.Errorf("env file holds key %s with the edited secret still, want the current key's secret back", got.Key)
	}
	if n := createdNamed(e, "ci-runner"); n != 2 {
		t.Errorf("%d keys named ci-runner ever existed, want 2: the JSON file could give the secret back", n)
	}
	if strings.Contains(r.stderr, good.Secret) || strings.Contains(r.stdout, good.Secret) {
		t.Error("the secret reached the output of once")
	}
}
