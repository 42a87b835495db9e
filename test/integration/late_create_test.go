package integration

import (
	"path/filepath"
	"testing"
)

// lateCreatePolicy rotates ci-runner on demand and deletes the old key at
// once: nothing but the sink keeps the old key's secret.
const lateCreatePolicy = `  - name: ci
    match: {name: "ci-runner"}
    schedule: "@every 1h"
    max_age: 1h
    grace_period: 0s
    sinks:
      - {type: file, path: "$OUT/{{.Name}}.json"}
      - {type: file, path: "$OUT/{{.Name}}.env", format: env}
`

// TestLateAppliedCreateReachesNoSinkBeforeItSigns: the API answers a
// create with the key and its secret, but applies it seconds later (the
// key signs nothing until then). The sinks must never hold that key
// before it works: a consumer reading them in between would be cut off.
func TestLateAppliedCreateReachesNoSinkBeforeItSigns(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.writePolicy(lateCreatePolicy)
	e.mustRun("once", "--force")
	sinks := map[string]string{filepath.Join(e.out, "ci-runner.json"): "json", filepath.Join(e.out, "ci-runner.env"): "env"}
	first := e.sim.only("ci-runner").Key

	e.sim.setFaults(`{"create-api-key": {"late_apply": "5s"}}`)
	r := e.rotatord("once", "--force")
	// Right after the command, whatever it did: every sink holds a key
	// that works.
	for path, format := range sinks {
		c, ok := readSink(t, path, format)
		if !ok || !e.sim.authenticates(c.Key, c.Secret) {
			t.Errorf("sink %s holds %s, which does not authenticate (created but not applied yet)\n%s", path, c.Key, r)
		}
	}
	if r.code != 0 {
		t.Fatalf("want the rotation done once the API shows the key\n%s", r)
	}
	checkSettled(e, "ci-runner", first, sinks)
	e.sim.checkMaxLive(2, "ci-runner")
}

// TestCreateNeverAppliedRollsBackAndKeepsTheWorkingKey: the API answers a
// create with a key and its secret and does not apply it within the
// settle time (a create it lost, or applies very late). Delivering that
// key would replace the working key in every sink with one that signs
// nothing: the rotation is rolled back and the sinks keep the old key.
func TestCreateNeverAppliedRollsBackAndKeepsTheWorkingKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.writePolicy(lateCreatePolicy)
	e.mustRun("once", "--force")
	sinks := map[string]string{filepath.Join(e.out, "ci-runner.json"): "json", filepath.Join(e.out, "ci-runner.env"): "env"}
	working := e.sim.only("ci-runner").Key

	e.sim.setFaults(`{"create-api-key": {"late_apply": "1h"}}`)
	r := e.rotatord("once", "--force")
	if r.code == 0 {
		t.Errorf("want the rotation reported failed\n%s", r)
	}
	for path, format := range sinks {
		c, ok := readSink(t, path, format)
		if !ok || c.Key != working || !e.sim.authenticates(c.Key, c.Secret) {
			t.Errorf("sink %s holds %s, want the working key %s\n%s", path, c.Key, working, r)
		}
	}
	// The key the create made is not forgotten: it stays on record, to be
	// deleted once the API shows it.
	late := ""
	for _, k := range e.sim.live("ci-runner") {
		if k.Key != working {
			late = k.Key
		}
	}
	if rot := e.records()["ci-runner"].Rotation; late == "" || rot == nil || rot.NewKeyID != late {
		t.Errorf("the rotation on record is %+v, want the unapplied key %q kept on record", rot, late)
	}
}
