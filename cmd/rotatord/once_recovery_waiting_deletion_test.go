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

// An interrupted rotation is finished at once, windows or not; with
// grace_period 0 its old keys then wait for the next window. The pass
// reports the name as recovered (its "pass done" line counts it), but
// once's deletion round that follows the pass answered for the name
// too (outside the window: nothing done) and its outcome replaced the
// pass's: the row said waiting for a rotation whose new key once had
// just delivered to every sink. (The deleter's reason and next due are
// right to show: when the old key goes.) A rotation in the same
// situation was kept as rotated (cmdOnce kept the pass's rotations by
// index); a recovery must be kept as recovered.
func TestOnceKeepsARecoveryWhoseDeletionWaits(t *testing.T) {
	e := newSimEnv(t, "")
	if code, _, stderr := runCLI("once", "--force", "--config.file", e.config); code != 0 {
		t.Fatalf("once --force = %d:\n%s", code, stderr)
	}
	// With rotatord stopped, ci-runner's record is put back as a crash
	// after the create and the sink's write left it: the rotation in the
	// created phase, its new key (the one the sink holds) not yet current.
	var old string
	st, err := state.Open(filepath.Join(e.dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	rec, ok := st.Get("ci", "ci-runner")
	if !ok || rec.Rotation != nil || rec.CurrentKeyID == "" {
		t.Fatalf("ci-runner's record after once --force: %+v", rec)
	}
	for _, k := range e.sim.Keys() {
		if k.Name == "ci-runner" && !k.Alive {
			old = k.Key
		}
	}
	if old == "" {
		t.Fatal("ci-runner has no deleted key: once --force did not rotate it")
	}
	newKey := rec.CurrentKeyID
	rec.Rotation = &state.Rotation{
		Phase: state.PhaseCreated, StartedAt: rec.CurrentSince.Add(-time.Second), OldKeyIDs: []string{old}, KnownKeyIDs: []string{old},
		RoleID: rec.RoleID, NewKeyID: newKey, NewCreatedAt: rec.CurrentSince,
	}
	rec.CurrentKeyID = old
	if err := st.Put(rec); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	// A window on another day than today (UTC): closed now.
	day := strings.ToLower(time.Now().UTC().Add(72 * time.Hour).Weekday().String()[:3])
	b, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	b = []byte(strings.Replace(string(b), "grace_period: 0s\n", "grace_period: 0s\n    windows: [{days: ["+day+`], start: "00:00", end: "00:00"}]`+"\n", 1))
	if err := os.WriteFile(e.config, b, 0o600); err != nil {
		t.Fatal(err)
	}

	code, stdout, stderr := runCLI("once", "-o", "json", "--config.file", e.config)
	if code != 0 {
		t.Fatalf("once = %d:\n%s\n%s", code, stdout, stderr)
	}
	var out []outcomeJSON
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatalf("once -o json: %v\n%s", err, stdout)
	}
	found := false
	for _, o := range out {
		if o.Name != "ci-runner" {
			continue
		}
		found = true
		if o.Result != resultRecovered || o.NextDue == nil {
			t.Errorf("ci-runner: %+v; want result recovered (every sink holds the new key), and when the old key goes (the next window)", o)
		}
	}
	if !found {
		t.Errorf("no row for ci-runner:\n%s", stdout)
	}
	// What the row must say happened did happen: the rotation is
	// delivered, the old key waits.
	st, err = state.OpenReadOnly(filepath.Join(e.dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rec, _ = st.Get("ci", "ci-runner")
	if rec.Rotation == nil || rec.Rotation.Phase != state.PhaseDelivered || rec.CurrentKeyID != newKey {
		t.Errorf("ci-runner's record after the recovery: %+v, rotation %+v; want delivered, current key %s", rec, rec.Rotation, newKey)
	}
}
