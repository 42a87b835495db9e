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
// yet), which counts as deleted, so the next forced pass creates another
// key. Once the creates apply, the name has 4 live keys, 3 of them held by
// nobody, until deleteLingering catches up after the settle time (2 min).
// The same happens with a DELETE that answers 404 for a key a lagging API
// still serves. Under `run` the 1-minute backoff still leaves 3 live keys.
func TestAudit2LateCreateRollbackMakesAThirdKey(t *testing.T) {
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
	for range 3 {
		code, _, stderr := runCLI("once", "--force", "--config.file", config)
		if code != 1 {
			t.Fatalf("once --force = %d, want 1 (the sink fails):\n%s", code, stderr)
		}
	}
	time.Sleep(4 * time.Second) // the late creates apply
	if n := sim.MaxLivePerName()["la-1"]; n > 2 {
		live := 0
		for _, k := range sim.Keys() {
			if k.Name == "la-1" && k.Alive {
				live++
			}
		}
		t.Errorf("la-1 had %d live keys at once (%d live now); want at most 2", n, live)
	}
}
