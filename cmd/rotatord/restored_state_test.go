package main

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient/exosim"
	"github.com/rotatord/rotatord/apiclient/exosim/exosimtest"
)

// Issues 5 and 10, campaign seed 913: a name never delivered (adopt:
// rotate, its first rotation failed at the probe) whose next create is
// applied late with its answer lost; the state directory is then restored
// from a copy taken before that create's intent. The late key is one no
// sink holds and the record does not know: rotatord used to wait for an
// operator for good ("two live keys already"), its sinks empty. The record
// names the current key and every sink proves it holds neither key, so the
// other key is retired and the name rotated.
func TestRestoredStateRetiresUnheldKeyOfUndeliveredName(t *testing.T) {
	sim := exosimtest.NewServer(t, exosim.DefaultSeed())
	if _, err := sim.CreateKey("bk-1", exosim.CIRoleID); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	config := writeFile(t, filepath.Join(dir, "policy.yml"), fmt.Sprintf(`exoscale:
  endpoint: %s
  api_key: %s
  api_secret: %s
  timeout: 2s
state_dir: state
policies:
  - name: bk
    match: {name: "bk-*"}
    adopt: rotate
    grace_period: 0s
    sinks:
      - type: file
        path: "out/{{.Name}}.json"
`, sim.Endpoint, sim.Admin().Key, sim.Admin().Secret))
	state, backup := filepath.Join(dir, "state"), filepath.Join(dir, "state-backup")

	// The sink directory is missing: the rotation fails at the probe, and
	// the record knows the seeded key as the current one. Back it up.
	if code, _, stderr := runCLI("once", "--config.file", config); code != 1 {
		t.Fatalf("once with the sink missing = %d, want 1:\n%s", code, stderr)
	}
	copyDir(t, state, backup)

	// The sink is fixed; the next create applies 3 s late, its answer lost.
	if err := os.Mkdir(filepath.Join(dir, "out"), 0o700); err != nil {
		t.Fatal(err)
	}
	sim.SetFault(exosim.OpCreateAPIKey, exosim.Fault{LoseResponseNext: 1, LateApply: 3 * time.Second, LateApplyNext: 1})
	runCLI("once", "--config.file", config) // fails or waits for the create to settle
	time.Sleep(4 * time.Second)             // the late create applies

	// The state directory comes back from the copy, without the intent.
	if err := os.RemoveAll(state); err != nil {
		t.Fatal(err)
	}
	copyDir(t, backup, state)
	for i := range 3 {
		if code, _, stderr := runCLI("once", "--config.file", config); code != 0 {
			t.Fatalf("once #%d after the restore = %d:\n%s", i+1, code, stderr)
		}
	}

	var live []string
	for _, k := range sim.Keys() {
		if k.Name == "bk-1" && k.Alive {
			live = append(live, k.Key)
		}
	}
	var held struct {
		APIKey string `json:"api_key"`
	}
	body, err := os.ReadFile(filepath.Join(dir, "out", "bk-1.json"))
	if err == nil {
		err = json.Unmarshal(body, &held)
	}
	if err != nil {
		t.Fatalf("the sink holds no key: %v (live keys %v)", err, live)
	}
	if len(live) != 1 || live[0] != held.APIKey {
		t.Errorf("live keys of bk-1 = %v, sink holds %s; want only the key the sink holds", live, held.APIKey)
	}
	if n := sim.MaxLivePerName()["bk-1"]; n > 2 {
		t.Errorf("bk-1 had %d live keys at once; want at most 2", n)
	}
}

// copyDir copies a state directory, modes included, as a backup would.
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		info, err := d.Info()
		if err != nil {
			return err
		}
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.Mkdir(dst, info.Mode().Perm())
		}
		if !d.Type().IsRegular() {
			return nil // a lock file's socket or the like: not part of a backup
		}
		body, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, body, info.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}
