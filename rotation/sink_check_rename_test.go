package rotation

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rotatord/rotatord/sinks"
)

// TestSinkCheckLossWaitingForAWindowOutlivesAPolicyRename: both files of a
// name are removed before the policy's window; the check finds the loss
// and the name waits for the window. Meanwhile the policy is renamed (the
// README's way: the same sinks, take_over). The renamed policy's record
// takes over the old one's deliveries of the key: the loss must come
// along, or the renamed policy takes the emptied files for sinks rotatord
// never delivered to and leaves their consumers without a key until
// max_age.
func TestSinkCheckLossWaitingForAWindowOutlivesAPolicyRename(t *testing.T) {
	h, dir, key := filesLostBeforeTheWindow(t)
	renamed := h.renameToCIKeys(dir)
	h.clock.now = time.Date(2026, 12, 14, 8, 30, 0, 0, time.UTC)
	h.pass(Options{})
	h.clock.now = time.Date(2026, 12, 14, 9, 1, 0, 0, time.UTC)
	h.pass(Options{})
	live := h.api.live("ci-a")
	r, _ := h.store.Get(renamed.Name, "ci-a")
	if len(live) != 1 || live[0] == key || r.CurrentKeyID != live[0] {
		t.Fatalf("live keys %v, ci-keys' current key %q: want a new key once the window opened, renamed or not", live, r.CurrentKeyID)
	}
	for _, s := range renamed.Sinks {
		if got, err := s.Read(t.Context(), "ci-a"); err != nil || got.KeyID != live[0] {
			t.Errorf("%s holds %q (%v), want the new key %s", s.Target("ci-a"), got.KeyID, err, live[0])
		}
	}
}

// TestSinkCheckPlanShowsALossTakenOverByARenamedPolicy: after the rename
// above, before any pass of the renamed policy, a dry run (rotatord plan)
// says what the pass will do: rotate for the loss once the window opens.
func TestSinkCheckPlanShowsALossTakenOverByARenamedPolicy(t *testing.T) {
	h, dir, _ := filesLostBeforeTheWindow(t)
	h.renameToCIKeys(dir)
	h.clock.now = time.Date(2026, 12, 14, 9, 30, 0, 0, time.UTC)
	o := findOutcome(h.pass(Options{DryRun: true}), "ci-a")
	if o.Decision.Action != ActionRotate || o.Decision.Reason != ReasonSinkLost {
		t.Errorf("plan after the rename says %v %q, want a rotation for the lost sinks", o.Decision.Action, o.Decision.Reason)
	}
	o = findOutcome(h.pass(Options{}), "ci-a")
	if o.Decision.Reason != ReasonSinkLost {
		t.Errorf("the pass after the plan says %q, want %q as the plan did", o.Decision.Reason, ReasonSinkLost)
	}
}

// filesLostBeforeTheWindow: ci-a rotated into two files in dir on a
// Friday in the policy's window (weekdays 09:00-16:00, sink_check hourly);
// on the Monday after, at 08:00, both files are removed and a pass finds
// the loss, which waits for the window. key is ci-a's current key.
func filesLostBeforeTheWindow(t *testing.T) (h *harness, dir, key string) {
	t.Helper()
	h = newHarness(t, 0)
	dir = t.TempDir()
	env, docker := pairOfSinks(t, dir, "ci", false)
	h.policy.Sinks = []sinks.Sink{env, docker}
	h.policy.SinkCheck = time.Hour
	h.policy.MaxAge = 30 * 24 * time.Hour
	h.newEngine()
	h.api.add("ci-a", roleCI)
	h.clock.now = time.Date(2026, 12, 11, 10, 0, 0, 0, time.UTC) // a Friday, in the window
	h.pass(Options{Force: true})
	key = h.current("ci-a")
	h.policy.Windows = weekdays09to16()
	h.engine.SetPolicies([]Policy{h.policy})

	h.clock.now = time.Date(2026, 12, 14, 8, 0, 0, 0, time.UTC) // the Monday after, before the window
	for _, f := range []string{"ci-a.env", "ci-a.docker.env"} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	h.pass(Options{})
	if live := h.api.live("ci-a"); len(live) != 1 || live[0] != key {
		t.Fatalf("setup: live keys %v: rotated outside the window", live)
	}
	return h, dir, key
}
