package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// heldBySinks returns the key ids the given sink files hold.
func heldBySinks(t *testing.T, sinks map[string]string) map[string]bool {
	t.Helper()
	held := map[string]bool{}
	for path, format := range sinks {
		if c, ok := readSink(t, path, format); ok {
			held[c.Key] = true
		}
	}
	return held
}

// checkNoUnheldKey requires every live key of name to be the old key or
// one a sink holds: no key whose secret nobody has.
func checkNoUnheldKey(e *env, name, oldID string, sinks map[string]string) {
	e.t.Helper()
	held := heldBySinks(e.t, sinks)
	for _, k := range e.sim.live(name) {
		if k.Key != oldID && !held[k.Key] {
			e.t.Errorf("%s: live key %s is neither the old key nor held by a sink", name, k.Key)
		}
	}
}

// checkSettled requires exactly one live key for name, held by every sink,
// authenticating, with the old key gone.
func checkSettled(e *env, name, oldID string, sinks map[string]string) string {
	e.t.Helper()
	live := e.sim.only(name)
	if live.Key == oldID {
		e.t.Errorf("%s: the old key %s is still the only one: no rotation", name, oldID)
	}
	for path, format := range sinks {
		if got := e.checkSink(path, format, name, 0o600); got != live.Key {
			e.t.Errorf("%s: sink %s holds %s, the live key is %s", name, path, got, live.Key)
		}
	}
	return live.Key
}

// TestSinkDirectoryMissing: a sink whose directory does not exist fails
// the probe, before any key is created; once it exists, the next pass
// rotates.
func TestSinkDirectoryMissing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	missing := filepath.Join(e.out, "missing")
	e.writePolicy(`  - name: ci
    match: {name: ci-runner}
    grace_period: 0s
    adopt: rotate
    sinks:
      - {type: file, path: "$OUT/missing/{{.Name}}.json"}
`)
	old := e.sim.only("ci-runner")
	before := e.sim.keys()

	r := e.rotatord("once")
	if r.code == 0 {
		t.Fatalf("once with a missing sink directory exited 0\n%s", r)
	}
	if !strings.Contains(r.stderr, missing) {
		t.Errorf("stderr does not name the missing directory %s\n%s", missing, r)
	}
	if got := row(t, parseTable(t, r.stdout), "ci-runner"); !strings.Contains(got["ERROR"], missing) {
		t.Errorf("outcome row %v does not name the missing directory", got)
	}
	if after := e.sim.keys(); len(after) != len(before) {
		t.Errorf("%d keys in the simulator, %d before: a key was created for a sink that cannot be written", len(after), len(before))
	}
	if c := e.sim.calls()["create-api-key"]; c.Total != 0 {
		t.Errorf("%d create calls, want 0", c.Total)
	}
	if got := e.sim.only("ci-runner").Key; got != old.Key {
		t.Errorf("live key %s, want the old %s", got, old.Key)
	}
	if rec := e.records()["ci-runner"]; rec.Failures != 1 || !strings.Contains(rec.LastError, missing) || rec.Rotation != nil {
		t.Errorf("state record: failures %d, last error %q, rotation %+v; want 1 failure naming the directory and no rotation",
			rec.Failures, rec.LastError, rec.Rotation)
	}

	if err := os.Mkdir(missing, 0o700); err != nil {
		t.Fatal(err)
	}
	e.mustRun("once")
	checkSettled(e, "ci-runner", old.Key, map[string]string{filepath.Join(missing, "ci-runner.json"): "json"})
	e.sim.checkMaxLive(2, "ci-runner")
}

// TestSinkTargetIsDirectory: the second sink's target is a directory. The
// probe refuses it before a key is created; nothing is lost, and after the
// directory is removed the next pass delivers one key to both sinks.
func TestSinkTargetIsDirectory(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, d := range []string{"a", "b", "b/ci-runner.env"} {
		if err := os.Mkdir(filepath.Join(e.out, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	e.writePolicy(`  - name: ci
    match: {name: ci-runner}
    grace_period: 0s
    adopt: rotate
    sinks:
      - {type: file, path: "$OUT/a/{{.Name}}.json"}
      - {type: file, path: "$OUT/b/{{.Name}}.env", format: env}
`)
	sinks := map[string]string{
		filepath.Join(e.out, "a", "ci-runner.json"): "json",
		filepath.Join(e.out, "b", "ci-runner.env"):  "env",
	}
	old := e.sim.only("ci-runner")

	r := e.rotatord("once")
	if r.code == 0 {
		t.Fatalf("once with a directory as sink target exited 0\n%s", r)
	}
	if !strings.Contains(r.stderr, filepath.Join(e.out, "b", "ci-runner.env")) {
		t.Errorf("stderr does not name the bad target\n%s", r)
	}
	if k, _ := e.sim.key(old.Key); !k.Alive {
		t.Fatalf("old key deleted although the rotation failed")
	}
	checkNoUnheldKey(e, "ci-runner", old.Key, map[string]string{filepath.Join(e.out, "a", "ci-runner.json"): "json"})

	if err := os.Remove(filepath.Join(e.out, "b", "ci-runner.env")); err != nil {
		t.Fatal(err)
	}
	e.mustRun("once")
	checkSettled(e, "ci-runner", old.Key, sinks)
	e.sim.checkMaxLive(2, "ci-runner")
}

// failingTemplate renders for the sample credential rotatord checks at
// start, and for the placeholder key the file sink's probe renders it
// with before a key is created (sinks/file probeKeyID), but fails for
// the key name ci-runner with a real key: a write that fails after the
// key was created.
const failingTemplate = `{{if and (eq .Name "ci-runner") (ne .APIKey "EXO000000000000000000000000")}}{{index .Name 99}}{{end}}key={{.APIKey}}
secret={{.APISecret}}
`

// TestSinkWriteFailsAfterCreate: the second sink fails to write after the
// key was created. The first sink holds the new key, so it is kept (not
// deleted: that would cut the first sink's consumers off), and once the
// second sink works, the next pass finishes the delivery of that same key.
func TestSinkWriteFailsAfterCreate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
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
	e.writePolicy(policy(failingTemplate))
	jsonPath, confPath := filepath.Join(e.out, "ci-runner.json"), filepath.Join(e.out, "ci-runner.conf")
	old := e.sim.only("ci-runner")

	r := e.rotatord("once")
	if r.code == 0 {
		t.Fatalf("once with a failing sink exited 0\n%s", r)
	}
	if _, ok := findLog(r.logs(), "sink write failed", "name", "ci-runner", "sink", "file#1"); !ok {
		t.Errorf("no log of the failed write of file#1\n%s", r)
	}
	if k, _ := e.sim.key(old.Key); !k.Alive {
		t.Fatalf("old key deleted although a sink failed")
	}
	held, ok := readSink(t, jsonPath, "json")
	if !ok {
		t.Fatalf("the first sink holds nothing")
	}
	if _, err := os.Stat(confPath); !os.IsNotExist(err) {
		t.Errorf("the failed sink left a file: %v", err)
	}
	live := e.sim.live("ci-runner")
	if len(live) != 2 || !e.sim.authenticates(held.Key, held.Secret) {
		t.Fatalf("want the old key and the new one the first sink holds alive; live %v, sink holds %s", ids(live), held.Key)
	}
	checkNoUnheldKey(e, "ci-runner", old.Key, map[string]string{jsonPath: "json"})
	if rec := e.records()["ci-runner"]; rec.Rotation == nil || rec.Rotation.Phase != "created" || rec.Rotation.NewKeyID != held.Key {
		t.Errorf("state record rotation %+v, want phase created with the new key", rec.Rotation)
	}

	e.writePolicy(policy(testTemplate))
	r = e.mustRun("once")
	if _, ok := findLog(r.logs(), "resuming delivery from a sink that holds the new key", "key_id", held.Key); !ok {
		t.Errorf("the delivery was not resumed from the first sink\n%s", r)
	}
	final := checkSettled(e, "ci-runner", old.Key, map[string]string{jsonPath: "json", confPath: "template"})
	if final != held.Key {
		t.Errorf("final key %s, want the key created by the failed pass %s (resumed, not replaced)", final, held.Key)
	}
	if n := createdNamed(e, "ci-runner"); n != 2 {
		t.Errorf("%d keys named ci-runner ever existed, want 2", n)
	}
	e.sim.checkMaxLive(2, "ci-runner")
}

// TestSinkWriteFailsEverywhere: the sink fails after the key was created,
// so no consumer can have it: it is deleted at once and the old key stays.
// (A policy with several template sinks is refused: none can be read back.)
func TestSinkWriteFailsEverywhere(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sink := func(ext string) string {
		return "      - type: file\n        path: \"$OUT/{{.Name}}." + ext + "\"\n        format: template\n        template: |\n" + indent(failingTemplate, 10)
	}
	e.writePolicy(`  - name: ci
    match: {name: ci-runner}
    grace_period: 0s
    adopt: rotate
    sinks:
` + sink("a"))
	old := e.sim.only("ci-runner")

	r := e.rotatord("once")
	if r.code == 0 {
		t.Fatalf("once with failing sinks exited 0\n%s", r)
	}
	if _, ok := findLog(r.logs(), "rolled back: new key deleted, old key kept", "name", "ci-runner"); !ok {
		t.Errorf("no rollback logged\n%s", r)
	}
	if got := e.sim.only("ci-runner").Key; got != old.Key {
		t.Errorf("live key %s, want the old %s", got, old.Key)
	}
	if n := createdNamed(e, "ci-runner"); n != 2 {
		t.Errorf("%d keys named ci-runner ever existed, want 2 (the old one and the rolled back one)", n)
	}
	if rec := e.records()["ci-runner"]; rec.Rotation != nil || rec.CurrentKeyID != old.Key {
		t.Errorf("state record: current %s, rotation %+v; want the old key and no rotation", rec.CurrentKeyID, rec.Rotation)
	}
}

// TestCreateResponseLost: the API creates the key but the answer never
// arrives. The key's secret is lost for good, so rotatord must delete it,
// keep the old key, and rotate normally at the next pass.
func TestCreateResponseLost(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.writePolicy(`  - name: ci
    match: {name: "ci-*"}
    grace_period: 0s
    sinks:
      - {type: file, path: "$OUT/{{.Name}}.json"}
`)
	names := []string{"ci-runner", "ci-deploy"}
	old := map[string]string{}
	for _, n := range names {
		old[n] = e.sim.only(n).Key
	}
	e.sim.setFaults(`{"create-api-key": {"lose_response_next": 1}}`)

	r := e.rotatord("once", "--force")
	if r.code == 0 {
		t.Fatalf("once whose create lost its answer exited 0\n%s", r)
	}
	if c := e.sim.calls()["create-api-key"]; c.ByStatus["0"] != 1 {
		t.Fatalf("create calls %+v: want exactly one lost answer (status 0)", c)
	}
	if _, ok := findLog(r.logs(), "create outcome unknown: looking for a key created without its secret"); !ok {
		t.Errorf("no log of the ambiguous create\n%s", r)
	}
	// The pass ran both names: one lost its create, the other rotated.
	for _, n := range names {
		checkNoUnheldKey(e, n, old[n], map[string]string{filepath.Join(e.out, n+".json"): "json"})
		if len(e.sim.live(n)) != 1 {
			t.Errorf("%s: live keys %v, want one", n, ids(e.sim.live(n)))
		}
	}
	var orphans int
	for _, k := range e.sim.keys() {
		if !k.Alive && k.Key != old["ci-runner"] && k.Key != old["ci-deploy"] {
			orphans++
		}
	}
	if orphans != 1 {
		t.Errorf("%d created keys were deleted, want exactly 1 (the one whose answer was lost)", orphans)
	}

	e.mustRun("once", "--force")
	for _, n := range names {
		checkSettled(e, n, old[n], map[string]string{filepath.Join(e.out, n+".json"): "json"})
		if k, _ := e.sim.key(old[n]); k.Alive {
			t.Errorf("%s: old key still alive", n)
		}
	}
	e.sim.checkMaxLive(2, names...)
}
