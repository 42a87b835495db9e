package metrics

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rotatord/rotatord/state"
)

// TestReadmeListsEveryMetric: the README's metrics table names every
// rotatord_* family, with its labels, and the go_* and process_* ones.
func TestReadmeListsEveryMetric(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	start := strings.Index(readme, "\n## Metrics\n")
	if start < 0 {
		t.Fatal("README.md has no Metrics section")
	}
	section := readme[start+1:]
	if end := strings.Index(section[1:], "\n## "); end >= 0 {
		section = section[:end+1]
	}
	rows := map[string]string{} // metric -> labels column
	row := regexp.MustCompile("(?m)^\\| `([a-z_*]+)`(?:, `[a-z_*]+`)* \\| ([^|]*) \\|")
	for _, m := range row.FindAllStringSubmatch(section, -1) {
		rows[m[1]] = strings.TrimSpace(m[2])
	}
	if _, ok := rows["go_*"]; !ok {
		t.Error("the README's metrics table has no go_* row")
	}
	if !strings.Contains(section, "`process_*`") {
		t.Error("the README's metrics table has no process_* row")
	}

	m, reg, store := newTestMetrics(t)
	m.SetReady(func() bool { return true })
	m.SetAPILimits(func() []APILimits { return []APILimits{{Account: "default", Rate: 1000, InFlight: 4}} })
	now := time.Now()
	store.Put(state.Record{Policy: "ci", Name: "a", CurrentKeyID: "EXO1", CurrentSince: now,
		Rotation: &state.Rotation{Phase: state.PhaseDelivered, StartedAt: now, DeliveredAt: now, DeleteAfter: now, NewKeyID: "EXO1", OldKeyIDs: []string{"EXO0"}}})
	m.RotationDone("ci", true, time.Second)
	// A hook that failed for a name: rotatord_hook_failing has a series.
	m.SetPolicies([]PolicyInfo{{Name: "ci", MaxAge: 30 * 24 * time.Hour, Sinks: []string{"file#0", "vault#1"}, Hooks: []HookInfo{{Label: "exec#0", Event: "before_delete"}}}})
	m.HookRun("ci", "a", "exec#0", "before_delete", false, time.Second)
	m.ObserveAPI("default", "list-api-keys", "200", time.Millisecond)
	m.ConfigLoaded(true)
	for name, mf := range families(t, reg) {
		if !strings.HasPrefix(name, "rotatord_") {
			continue
		}
		labels, ok := rows[name]
		if !ok {
			t.Errorf("the README's metrics table lacks %s", name)
			continue
		}
		for _, s := range mf.GetMetric() {
			for _, l := range s.GetLabel() {
				if !regexp.MustCompile(`\b` + l.GetName() + `\b`).MatchString(labels) {
					t.Errorf("README: %s has label %s, not in %q", name, l.GetName(), labels)
				}
			}
		}
	}
}
