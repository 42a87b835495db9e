package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rotatord/rotatord/state"
)

// A deletion the engine refuses (the API does not show the key the record
// lists as the policy's: an edited record) leaves the key alone, which is
// right; but once's row said "deleted" and once exited 0, so a script
// took the old keys for gone. The row says failed, with why, and once
// exits 1.
func TestOnceRowOfARefusedDeletionIsNotDeleted(t *testing.T) {
	e := newSimEnv(t, "")
	b, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	b = []byte(strings.Replace(string(b), "grace_period: 0s", "grace_period: 1s", 1))
	if err := os.WriteFile(e.config, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCLI("once", "--force", "--config.file", e.config); code != 0 {
		t.Fatalf("once --force = %d:\n%s", code, stderr)
	}
	// With rotatord stopped, ci-deploy's record is edited to aim its
	// deletion at backup-agent's key.
	var victim string
	for _, k := range e.sim.Keys() {
		if k.Name == "backup-agent" && k.Alive {
			victim = k.Key
		}
	}
	st, err := state.Open(filepath.Join(e.dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	rec, ok := st.Get("ci", "ci-deploy")
	if !ok || rec.Rotation == nil || victim == "" {
		t.Fatalf("ci-deploy's record %+v, backup-agent's key %q", rec, victim)
	}
	rec.Rotation.OldKeyIDs = []string{victim}
	if err := st.Put(rec); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // the grace period ends

	code, stdout, stderr := runCLI("once", "-o", "json", "--config.file", e.config)
	if code != 1 {
		t.Errorf("once with a refused deletion = %d, want 1:\n%s\n%s", code, stdout, stderr)
	}
	var out []outcomeJSON
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatalf("once -o json: %v\n%s", err, stdout)
	}
	found := false
	for _, o := range out {
		switch o.Name {
		case "ci-deploy":
			found = true
			if o.Result != resultFailed || !strings.Contains(o.Error, victim) || !strings.Contains(o.Error, "refused") {
				t.Errorf("ci-deploy: result %q, error %q; want failed, naming the refused key %s", o.Result, o.Error, victim)
			}
		case "ci-runner":
			if o.Result != resultDeleted {
				t.Errorf("ci-runner: result %q, want deleted", o.Result)
			}
		}
	}
	if !found {
		t.Errorf("no row for ci-deploy:\n%s", stdout)
	}
	if !liveKey(e, victim) {
		t.Errorf("backup-agent's key %s was deleted", victim)
	}
}

func liveKey(e *simEnv, id string) bool {
	for _, k := range e.sim.Keys() {
		if k.Key == id {
			return k.Alive
		}
	}
	return false
}
