package rotation

import (
	"slices"
	"testing"

	"github.com/rotatord/rotatord/sinks/file"
)

// A name with ".." inside, or ending in "." (which meets the dot of a
// suffix: "{{.Name}}.json" renders "ci-a..json"), renders a path the file
// sink refuses as unclean. Such a name, chosen by whoever may create keys,
// failed its rotation at every pass (an alert, `once` exiting 1, on_failure
// hooks) instead of being skipped and counted like the other names
// rotatord will not manage.
func TestNamesWithDotDotOrATrailingDotAreSkipped(t *testing.T) {
	hostile := []string{"ci-..", "ci-a..b", "ci-a.", "ci-...json"}
	for _, name := range []string{"ci-a.b", "ci.a.b", "ci-a.json"} {
		if CheckName(name) != "" {
			t.Errorf("CheckName(%q) = %q, want it managed", name, CheckName(name))
		}
	}

	h := newHarness(t, 0)
	h.setSinks(fileSinkAt(t, t.TempDir()+"/{{.Name}}.json", file.FormatJSON))
	var ids []string
	for _, name := range hostile {
		ids = append(ids, h.api.add(name, roleCI))
	}
	good := h.api.add("ci-a.b", roleCI)
	h.pass(Options{Force: true})
	for i, id := range ids {
		if !slices.Contains(h.api.live(hostile[i]), id) {
			t.Errorf("key %s of %q was touched, want it left alone", id, hostile[i])
		}
	}
	if slices.Contains(h.api.live("ci-a.b"), good) {
		t.Errorf("the key of a safe name was not rotated")
	}
	if h.rec.skipped != len(hostile) || h.rec.failed != 0 {
		t.Errorf("skipped = %d, failed = %d; want %d skipped, none failed", h.rec.skipped, h.rec.failed, len(hostile))
	}
}
