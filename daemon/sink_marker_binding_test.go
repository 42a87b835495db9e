package daemon

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/rotatord/rotatord/apiclient/exosim"
	"github.com/rotatord/rotatord/rotation"
)

// TestMarkerDoesNotBindFileToItsSink: issue 11 "A file sink
// overwrites any regular file at its target. Like the Vault sink's
// take_over, never replace a file rotatord did not write" and "Key names
// are attacker-chosen". The fix marks every file with the constant
// user.rotatord="file sink" (or recognises rotatord's JSON layout for the
// same name): that tells "rotatord wrote it", not "this sink, for this
// policy and this key, wrote it". Config validation only refuses two sinks
// with the same path template text.
//
// Attack: two policies write into one directory, a common layout:
//
//	backup: match {name: backup-agent, role_id: <readonly>}, path out/backup-agent.json
//	ci:     match {name: "*", role_id: <ci>},               path out/{{.Name}}.json
//
// Anyone allowed to create CI keys creates a CI-role key named
// "backup-agent" (the name passes CheckName). Policy ci owns it, renders
// out/backup-agent.json, finds rotatord's marker there (policy backup
// wrote it) and replaces the backup agent's credential with a CI key. The
// backup agent now runs with a key of the CI role, and the two policies
// overwrite each other at every pass (each sees the other's file as a
// mismatch to repair). The Vault sink's managed-by marker is a constant
// too, so the same collision likely exists there (not tested here).
//
// Expected: the marker (and the layout recognition) binds a file to the
// sink and key that wrote it (e.g. policy, sink index and key name or role
// in the attribute's value, or state records of which sink owns which
// path), so a file another policy's sink wrote is refused like an
// unmanaged one; or config/runtime refuses two sinks whose targets can
// coincide.
func TestMarkerDoesNotBindFileToItsSink(t *testing.T) {
	e := newEnv(t)
	e.writePolicy(`  - name: backup
    match: {name: "backup-agent", role_id: "` + exosim.ReadonlyRoleID + `"}
    schedule: "@every 1h"
    grace_period: 0s
    adopt: rotate
    sinks:
      - type: file
        path: "out/backup-agent.json"
  - name: ci
    match: {name: "*", role_id: "` + exosim.CIRoleID + `"}
    schedule: "@every 1h"
    grace_period: 0s
    adopt: rotate
    sinks:
      - type: file
        path: "out/{{.Name}}.json"
`)
	if err := e.d.Reload(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	// The backup policy delivers its key first.
	if _, err := e.d.RunPass(context.Background(), []string{"backup"}, rotation.Options{}); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(e.dir, "out", "backup-agent.json")
	roleIn := func() string {
		b, err := os.ReadFile(target)
		if err != nil {
			t.Fatalf("read %s: %v", target, err)
		}
		var j struct {
			RoleID string `json:"role_id"`
		}
		json.Unmarshal(b, &j)
		return j.RoleID
	}
	if r := roleIn(); r != exosim.ReadonlyRoleID {
		t.Fatalf("setup: the backup policy wrote role %q", r)
	}

	// The attacker: a CI-role key named like the backup agent's file.
	if _, err := e.sim.CreateKey("backup-agent", exosim.CIRoleID); err != nil {
		t.Fatal(err)
	}
	out, err := e.d.RunPass(context.Background(), []string{"ci"}, rotation.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range out {
		t.Logf("ci pass: %s action=%s err=%v", o.Name, o.Decision.Action, o.Err)
	}
	if r := roleIn(); r != exosim.ReadonlyRoleID {
		t.Fatalf("policy ci replaced %s, written by policy backup, with a key of role %s (an attacker-named CI key): the marker does not bind the file to its sink",
			target, r)
	}
}
