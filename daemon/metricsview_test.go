package daemon

import (
	"context"
	"regexp"
	"testing"

	"github.com/rotatord/rotatord/rotation"
)

// keyCreated returns the per-name series of a scrape, by their labels.
func keyCreated(body string) map[string]string {
	out := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^rotatord_key_created_timestamp_seconds(\{[^}]*\}) (\S+)$`).FindAllStringSubmatch(body, -1) {
		out[m[1]] = m[2]
	}
	return out
}

// TestMetricsFollowEachAccountsJournal: the metrics read the records again
// after a pass of either account, and the view's version stands still
// while nothing changes (so that the records are not read at every
// scrape).
func TestMetricsFollowEachAccountsJournal(t *testing.T) {
	e := newAccountsEnv(t)
	d := e.open()
	view := recordView{d}
	if v1, v2 := view.Version(), view.Version(); v1 != v2 {
		t.Fatalf("the view's version moved with nothing changed: %d, %d", v1, v2)
	}
	if _, err := d.RunPass(context.Background(), nil, rotation.Options{Force: true}); err != nil {
		t.Fatal(err)
	}
	before := keyCreated(scrape(t, d))
	const green = `{account="green",name="ci-runner",policy="green-ci"}`
	const dflt = `{account="default",name="ci-runner",policy="ci"}`
	if before[green] == "" || before[dflt] == "" {
		t.Fatalf("series after the first pass: %v", before)
	}
	v := view.Version()
	if again := keyCreated(scrape(t, d)); len(again) != len(before) || view.Version() != v {
		t.Fatalf("a second scrape changed something: %v, version %d then %d", again, v, view.Version())
	}
	// Only green's journal changes: its key time must move, the default
	// account's stay.
	out, err := d.RunPass(context.Background(), []string{"green-ci"}, rotation.Options{Force: true})
	if err != nil || len(out) != 1 || out[0].Err != nil {
		t.Fatalf("green pass: %v %+v", err, out)
	}
	if view.Version() == v {
		t.Error("the view's version did not move after a pass wrote green's journal")
	}
	after := keyCreated(scrape(t, d))
	if after[green] == before[green] {
		t.Errorf("green's key time did not move after its rotation: %s", after[green])
	}
	if after[dflt] != before[dflt] {
		t.Errorf("the default account's key time moved: %s, was %s", after[dflt], before[dflt])
	}
}
