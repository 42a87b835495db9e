package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient/exosim"
	"github.com/rotatord/rotatord/rotation"
)

// After a create that failed (the key it may have made is looked for
// until the API has settled), plan said only "a rotation was
// interrupted" once the failure's backoff was over: it says what the
// search waits for and until when, in the table and in -o json, with no
// secret.
func TestPlanShowsAnOrphanSearchsWait(t *testing.T) {
	e := newSimEnv(t, "")
	b, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	// A settle time of 4 minutes (twice the request timeout).
	b = []byte(strings.Replace(string(b), "  max_retries: 0\n", "  max_retries: 0\n  timeout: 2m\n", 1))
	if err := os.WriteFile(e.config, b, 0o600); err != nil {
		t.Fatal(err)
	}
	e.sim.SetFault(exosim.OpCreateAPIKey, exosim.Fault{ErrorNext: 2, ErrorStatus: 500})
	start := time.Now()
	if code, stdout, stderr := runCLI("once", "--force", "--config.file", e.config); code != 1 {
		t.Fatalf("once --force with failing creates = %d, want 1:\n%s\n%s", code, stdout, stderr)
	}
	// Past the failure's backoff (1 min), within the settle time.
	t.Setenv(envClockOffset, "90s")
	code, stdout, stderr := runCLI("plan", "-o", "json", "--config.file", e.config)
	if code != 0 {
		t.Fatalf("plan -o json = %d:\n%s\n%s", code, stdout, stderr)
	}
	var out []outcomeJSON
	if err := json.Unmarshal([]byte(stdout), &out); err != nil || len(out) != 2 {
		t.Fatalf("plan -o json: %v\n%s", err, stdout)
	}
	for _, o := range out {
		// The settle time from the intent, on the shifted clock.
		lo, hi := start.Add(4*time.Minute), time.Now().Add(90*time.Second+4*time.Minute+2*time.Second)
		if o.Reason != string(rotation.ReasonCreateSettle) || o.NextDue == nil || o.NextDue.Before(lo) || o.NextDue.After(hi) {
			t.Errorf("%s: reason %q, next_due %v; want %q until the settle time after the create (%s to %s)",
				o.Name, o.Reason, o.NextDue, rotation.ReasonCreateSettle, lo.UTC().Format(time.RFC3339), hi.UTC().Format(time.RFC3339))
		}
	}
	code, stdout, stderr = runCLI("plan", "--config.file", e.config)
	if code != 0 {
		t.Fatalf("plan = %d:\n%s\n%s", code, stdout, stderr)
	}
	rows := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(rows) != 3 {
		t.Fatalf("plan:\n%s", stdout)
	}
	for _, r := range rows[1:] {
		cells := tableSpaces.Split(r, -1)
		if len(cells) < 6 || cells[4] != string(rotation.ReasonCreateSettle) || !strings.HasPrefix(cells[5], "in ") {
			t.Errorf("plan row %q: want REASON %q and NEXT in ...", r, rotation.ReasonCreateSettle)
		}
	}
	for _, k := range e.sim.Keys() {
		if strings.Contains(stdout+stderr, k.Secret) {
			t.Errorf("plan printed the secret of %s", k.Key)
		}
	}
}
