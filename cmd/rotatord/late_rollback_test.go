package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient/exosim"
	"github.com/rotatord/rotatord/apiclient/exosim/exosimtest"
)

// Issue 10: "never more than 2 live keys per name, at any moment, whatever
// fails". A create the API applies a few seconds late (exosim's LateApply,
// the campaign's late_creates) whose delivery then fails: the rollback's
// DELETE answers 403 "API Key not in organization" (the key is not there
// yet), which the client takes as already gone. The rotation must stay on
// record until the key is seen, or seen gone after the settle time: forced
// passes meanwhile make no other key, and the late key is deleted once the
// API shows it.
func TestRollbackOfLateAppliedCreateMakesNoThirdKey(t *testing.T) {
	sim := exosimtest.NewServer(t, exosim.DefaultSeed())
	if _, err := sim.CreateKey("la-1", exosim.CIRoleID); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "out"), 0o700); err != nil {
		t.Fatal(err)
	}
	// A template sink whose write fails with a real secret (43 characters)
	// but passes validate's sample (13): any sink whose write fails after
	// its probe passed (a full disk, EBUSY) takes the same path.
	config := writeFile(t, filepath.Join(dir, "policy.yml"), fmt.Sprintf(`exoscale:
  endpoint: %s
  api_key: %s
  api_secret: %s
  timeout: 2s # settle time 10s
state_dir: state
policies:
  - name: la
    match: {name: "la-*"}
    grace_period: 0s
    sinks:
      - type: file
        path: "out/{{.Name}}.sh"
        format: template
        template: |
          {{if gt (len .APISecret) 20}}{{index .Name 200}}{{end}}K={{shquote .APIKey}}
`, sim.Endpoint, sim.Admin().Key, sim.Admin().Secret))
	sim.SetFault(exosim.OpCreateAPIKey, exosim.Fault{LateApply: 3 * time.Second, LateApplyRate: 1})
	for i := range 3 {
		// The first pass fails at the sink; the next ones wait for the
		// rolled-back key to settle, or fail again.
		code, _, stderr := runCLI("once", "--force", "--config.file", config)
		if code != 1 && (i == 0 || code != 0) {
			t.Fatalf("once --force #%d = %d:\n%s", i+1, code, stderr)
		}
	}
	time.Sleep(4 * time.Second) // the late creates apply
	if n := sim.MaxLivePerName()["la-1"]; n > 2 {
		t.Fatalf("la-1 had %d live keys at once (%d live now); want at most 2", n, liveKeys(sim, "la-1"))
	}
	// Past the settle time (10 s after the create), a pass finds the late
	// key nobody holds and deletes it: the seeded key is the only one left.
	time.Sleep(7 * time.Second)
	if code, _, stderr := runCLI("once", "--config.file", config); code != 0 {
		t.Fatalf("once after the settle time = %d:\n%s", code, stderr)
	}
	if n := liveKeys(sim, "la-1"); n != 1 {
		t.Errorf("la-1 has %d live keys after the settle time; want 1 (the late key deleted)", n)
	}
}

func liveKeys(sim *exosim.Server, name string) int {
	live := 0
	for _, k := range sim.Keys() {
		if k.Name == name && k.Alive {
			live++
		}
	}
	return live
}
