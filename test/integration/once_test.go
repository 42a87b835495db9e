package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// otherKeysUntouched requires the keys of names to be exactly the ones
// alive before, still alive: no key created, none deleted.
func otherKeysUntouched(e *env, before []simKey, names ...string) {
	e.t.Helper()
	now := e.sim.keys()
	for _, n := range names {
		var want, got []string
		for _, k := range before {
			if k.Name == n && k.Alive {
				want = append(want, k.Key+" alive")
			}
		}
		for _, k := range now {
			if k.Name == n {
				state := " deleted"
				if k.Alive {
					state = " alive"
				}
				got = append(got, k.Key+state)
			}
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			e.t.Errorf("%s: keys changed: before %v, now %v", n, want, got)
		}
	}
}

// createdNamed counts the keys named name the simulator ever held.
func createdNamed(e *env, name string) int {
	e.t.Helper()
	n := 0
	for _, k := range e.sim.keys() {
		if k.Name == name {
			n++
		}
	}
	return n
}

// TestOnceForceEveryFormat rotates with `once --force` and grace 0 into a
// sink of each file format: the old key is deleted at once and the file
// holds a new key whose secret authenticates, with the configured mode.
func TestOnceForceEveryFormat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		format   string
		mode     string // policy's mode, empty for the default
		wantMode os.FileMode
	}{
		{name: "json", format: "json", wantMode: 0o600},
		{name: "env", format: "env", wantMode: 0o600},
		{name: "exoscale-toml", format: "exoscale-toml", wantMode: 0o600},
		{name: "template", format: "template", wantMode: 0o600},
		{name: "json-mode-0640", format: "json", mode: "0640", wantMode: 0o640},
		{name: "env-mode-0400", format: "env", mode: "0400", wantMode: 0o400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			sink := fmt.Sprintf("      - type: file\n        path: $OUT/{{.Name}}.cred\n        format: %s\n", tt.format)
			if tt.mode != "" {
				sink += fmt.Sprintf("        mode: %q\n", tt.mode)
			}
			if tt.format == "template" {
				sink += "        template: |\n" + indent(testTemplate, 10)
			}
			e.writePolicy(`  - name: ci
    match: {name: ci-runner}
    grace_period: 0s
    sinks:
` + sink)
			before := e.sim.keys()
			old := e.sim.only("ci-runner")

			r := e.mustRun("once", "--force")

			path := filepath.Join(e.out, "ci-runner.cred")
			newID := e.checkSink(path, tt.format, "ci-runner", tt.wantMode)
			if newID == old.Key {
				t.Fatalf("sink still holds the old key %s", old.Key)
			}
			if k, _ := e.sim.key(old.Key); k.Alive {
				t.Errorf("old key %s still alive after a rotation with grace 0", old.Key)
			}
			if got := e.sim.only("ci-runner").Key; got != newID {
				t.Errorf("live key %s, sink holds %s", got, newID)
			}
			if n := createdNamed(e, "ci-runner"); n != 2 {
				t.Errorf("%d keys named ci-runner ever existed, want 2 (old and new)", n)
			}
			otherKeysUntouched(e, before, "ci-deploy", "backup-agent", adminName)
			e.sim.checkMaxLive(2, "ci-runner")

			out := row(t, parseTable(t, r.stdout), "ci-runner")
			if out["ACTION"] != "rotate" || out["REASON"] != "forced" || out["ERROR"] != "-" {
				t.Errorf("outcome row %v, want rotate/forced/-", out)
			}
			rec := e.records()["ci-runner"]
			if rec.CurrentKeyID != newID || rec.Rotation != nil {
				t.Errorf("state record: current %s, rotation %+v; want current %s and no rotation", rec.CurrentKeyID, rec.Rotation, newID)
			}
			if entries, _ := os.ReadDir(e.out); len(entries) != 1 {
				t.Errorf("sink directory holds %d entries, want only the credential (no temp files)", len(entries))
			}
		})
	}
}

// TestGracePeriodOnce: the old key outlives a rotation by grace_period and
// a later `once` without --force deletes it without rotating again.
func TestGracePeriodOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.writePolicy(`  - name: ci
    match: {name: ci-runner}
    max_age: 1h
    grace_period: 2s
    sinks:
      - {type: file, path: "$OUT/{{.Name}}.json"}
`)
	old := e.sim.only("ci-runner")
	e.mustRun("once", "--force")
	path := filepath.Join(e.out, "ci-runner.json")
	newID := e.checkSink(path, "json", "ci-runner", 0o600)

	// Nothing runs between commands: the old key must have survived.
	if k, _ := e.sim.key(old.Key); !k.Alive {
		t.Fatalf("old key %s deleted right after a rotation with grace 2s", old.Key)
	}
	rec := e.records()["ci-runner"]
	if rec.Rotation == nil || rec.Rotation.Phase != "delivered" || rec.Rotation.DeleteAfter.IsZero() {
		t.Fatalf("state record after the rotation: %+v, want phase delivered with delete_after", rec.Rotation)
	}
	deleteAfter := rec.Rotation.DeleteAfter

	// A pass during the grace period deletes nothing and rotates nothing.
	r := e.mustRun("once")
	if time.Now().Before(deleteAfter) {
		if k, _ := e.sim.key(old.Key); !k.Alive {
			t.Errorf("old key deleted by a pass before the grace period ended")
		}
		if got := row(t, parseTable(t, r.stdout), "ci-runner"); got["ACTION"] != "none" || got["REASON"] != "grace period running" {
			t.Errorf("outcome during the grace period: %v, want none/grace period running", got)
		}
	} else {
		t.Logf("the second once ended after the grace period; not checking it")
	}

	time.Sleep(time.Until(deleteAfter) + 200*time.Millisecond)
	r = e.mustRun("once")
	if k, _ := e.sim.key(old.Key); k.Alive {
		t.Errorf("old key %s still alive after the grace period and a pass\n%s", old.Key, r)
	}
	if got := e.sim.only("ci-runner").Key; got != newID {
		t.Errorf("live key %s, want the delivered %s", got, newID)
	}
	if n := createdNamed(e, "ci-runner"); n != 2 {
		t.Errorf("%d keys named ci-runner ever existed, want 2: the pass after the grace period rotated again", n)
	}
	if e.checkSink(path, "json", "ci-runner", 0o600) != newID {
		t.Errorf("sink changed by the deleting pass")
	}
	if _, ok := findLog(r.logs(), "old key deleted", "key_id", old.Key); !ok {
		t.Errorf("no log of the deletion of %s:\n%s", old.Key, r.stderr)
	}
}

// TestGracePeriodRun: under `rotatord run` the old key is deleted once the
// grace period is over, without another rotation: by the cron pass with a
// fast schedule, and by the deletion ticker (every 15s, not configurable
// from the policy file) when no cron tick comes.
func TestGracePeriodRun(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		schedule string
		within   time.Duration
	}{
		{name: "cron-every-1s", schedule: "@every 1s", within: 20 * time.Second},
		// Rotated by the pass at start; the next cron tick is an hour away,
		// so only the deletion ticker (15s) can delete the old key.
		{name: "deletion-ticker", schedule: "@every 1h", within: 30 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.writePolicy(fmt.Sprintf(`  - name: ci
    match: {name: ci-runner}
    schedule: %q
    max_age: 1h
    grace_period: 3s
    adopt: rotate
    sinks:
      - {type: file, path: "$OUT/{{.Name}}.json"}
`, tt.schedule))
			old := e.sim.only("ci-runner")
			d := e.startDaemon()
			d.waitLog(20*time.Second, "rotation delivered", "name", "ci-runner")
			path := filepath.Join(e.out, "ci-runner.json")
			newID := e.checkSink(path, "json", "ci-runner", 0o600)
			delivered := time.Now()

			eventually(t, tt.within, func() (bool, string) {
				k, _ := e.sim.key(old.Key)
				return !k.Alive, "old key " + old.Key + " still alive"
			})
			t.Logf("old key deleted %s after delivery", time.Since(delivered).Round(100*time.Millisecond))
			if got := e.sim.only("ci-runner").Key; got != newID {
				t.Errorf("live key %s, want the delivered %s", got, newID)
			}
			d.stop()
			if n := createdNamed(e, "ci-runner"); n != 2 {
				t.Errorf("%d keys named ci-runner ever existed, want 2: rotated again within max_age", n)
			}
			logs := d.logs()
			if n := countLogs(logs, "rotation started", "name", "ci-runner"); n != 1 {
				t.Errorf("%d rotations started, want 1", n)
			}
			if _, ok := findLog(logs, "old key deleted", "key_id", old.Key); !ok {
				t.Errorf("no log of the deletion of %s", old.Key)
			}
			e.sim.checkMaxLive(2, "ci-runner")
		})
	}
}

// TestAdopt: adopt wait leaves a key seen for the first time alone until
// max_age (plan says why); adopt rotate replaces it at the first pass.
func TestAdopt(t *testing.T) {
	t.Parallel()
	t.Run("wait", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.writePolicy(`  - name: ci
    match: {name: "ci-*"}
    max_age: 1h
    grace_period: 0s
    adopt: wait
    sinks:
      - {type: file, path: "$OUT/{{.Name}}.json"}
`)
		before := e.sim.keys()
		for _, cmd := range []string{"plan", "once", "plan"} {
			r := e.mustRun(cmd)
			for _, name := range []string{"ci-runner", "ci-deploy"} {
				got := row(t, parseTable(t, r.stdout), name)
				if got["ACTION"] != "none" || got["REASON"] != "younger than max_age" || !strings.HasPrefix(got["NEXT"], "in ") {
					t.Errorf("%s: %s row %v, want none / younger than max_age / in ~1h", cmd, name, got)
				}
			}
		}
		otherKeysUntouched(e, before, "ci-runner", "ci-deploy", "backup-agent", adminName)
		if c := e.sim.calls()["create-api-key"]; c.Total != 0 {
			t.Errorf("%d create calls, want 0", c.Total)
		}
		if entries, _ := os.ReadDir(e.out); len(entries) != 0 {
			t.Errorf("sink files written without a rotation: %d", len(entries))
		}
		// `once` adopted the keys: their age now counts from that pass.
		recs := e.records()
		for _, k := range before {
			if strings.HasPrefix(k.Name, "ci-") && recs[k.Name].CurrentKeyID != k.Key {
				t.Errorf("%s: state record current key %q, want the adopted %s", k.Name, recs[k.Name].CurrentKeyID, k.Key)
			}
		}
	})
	t.Run("rotate", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.writePolicy(`  - name: ci
    match: {name: "ci-*"}
    max_age: 1h
    grace_period: 0s
    adopt: rotate
    sinks:
      - {type: file, path: "$OUT/{{.Name}}.json"}
`)
		before := e.sim.keys()
		r := e.mustRun("plan")
		for _, name := range []string{"ci-runner", "ci-deploy"} {
			got := row(t, parseTable(t, r.stdout), name)
			if got["ACTION"] != "rotate" || got["REASON"] != "age unknown (adopt: rotate)" {
				t.Errorf("plan: %s row %v, want rotate / age unknown (adopt: rotate)", name, got)
			}
		}
		otherKeysUntouched(e, before, "ci-runner", "ci-deploy")

		r = e.mustRun("once")
		for _, name := range []string{"ci-runner", "ci-deploy"} {
			got := row(t, parseTable(t, r.stdout), name)
			if got["ACTION"] != "rotate" || got["ERROR"] != "-" {
				t.Errorf("once: %s row %v, want rotate without error", name, got)
			}
			newID := e.checkSink(filepath.Join(e.out, name+".json"), "json", name, 0o600)
			if got := e.sim.only(name).Key; got != newID {
				t.Errorf("%s: live key %s, sink holds %s", name, got, newID)
			}
		}
		otherKeysUntouched(e, before, "backup-agent", adminName)

		// Adopted keys are replaced once; the new ones are young.
		r = e.mustRun("once")
		if got := row(t, parseTable(t, r.stdout), "ci-runner"); got["ACTION"] != "none" {
			t.Errorf("second once: %v, want nothing to do", got)
		}
		if c := e.sim.calls()["create-api-key"]; c.Total != 2 {
			t.Errorf("%d create calls, want 2", c.Total)
		}
	})
}
