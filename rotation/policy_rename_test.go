package rotation

import (
	"context"
	"errors"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/rotatord/rotatord/sinks"
	"github.com/rotatord/rotatord/sinks/file"
)

// Renaming a policy (README, "Renaming a policy") is safe but not free:
// the records belong to the old name, so the renamed policy adopts every
// key afresh (adopt: wait restarts its age), and its sinks refuse the files
// the old name's sinks marked until take_over lets them replace them. No
// key is made for a name whose sink refuses, and the consumer keeps a
// working key throughout.
func TestRenamingAPolicy(t *testing.T) {
	h := newHarness(t, 0)
	dir := t.TempDir()
	sink := func(policy string, takeOver bool) sinks.Sink {
		s, err := file.New(file.Options{
			Path:   template.Must(template.New("p").Parse(dir + "/{{.Name}}.env")),
			Format: file.FormatEnv, UID: -1, GID: -1, Policy: policy, TakeOver: takeOver,
		})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	h.policy.Sinks = []sinks.Sink{sink("ci", false)}
	h.newEngine()
	h.api.add("ci-a", roleCI)
	h.pass(Options{Force: true})
	held := h.current("ci-a")

	renamed := h.policy
	renamed.Name = "ci-keys"
	renamed.Sinks = []sinks.Sink{sink("ci-keys", false)}
	if err := h.engine.SetPolicies([]Policy{renamed}); err != nil {
		t.Fatal(err)
	}
	h.pass(Options{})
	r, ok := h.store.Get("ci-keys", "ci-a")
	if !ok || r.CurrentKeyID != held || !r.CurrentSince.Equal(h.clock.Now()) {
		t.Fatalf("ci-keys' record %+v (found %v), want key %s adopted now", r, ok, held)
	}

	created := h.api.n
	h.clock.Add(25 * time.Hour) // past max_age: due
	out := h.pass(Options{})
	o := findOutcome(out, "ci-a")
	if o.Err == nil || !errors.Is(o.Err, file.ErrNotManaged) || !strings.Contains(o.Err.Error(), `policy "ci"`) || !strings.Contains(o.Err.Error(), "take_over") {
		t.Errorf("due under the new name: %v, want the old policy's marker refused, naming take_over", o.Err)
	}
	if h.api.n != created {
		t.Errorf("%d keys made for a name whose sink refuses", h.api.n-created)
	}
	if got, err := renamed.Sinks[0].Read(context.Background(), "ci-a"); err != nil || got.KeyID != held {
		t.Errorf("the file holds %s (err %v), want the key it held, %s", got.KeyID, err, held)
	}

	renamed.Sinks = []sinks.Sink{sink("ci-keys", true)}
	if err := h.engine.SetPolicies([]Policy{renamed}); err != nil {
		t.Fatal(err)
	}
	h.pass(Options{IgnoreBackoff: true})
	r, _ = h.store.Get("ci-keys", "ci-a")
	if r.CurrentKeyID == held {
		t.Fatalf("with take_over: still %s", held)
	}
	if got, err := renamed.Sinks[0].Read(context.Background(), "ci-a"); err != nil || got.KeyID != r.CurrentKeyID {
		t.Errorf("with take_over the file holds %s (err %v), want %s", got.KeyID, err, r.CurrentKeyID)
	}
	if live := h.api.live("ci-a"); len(live) != 1 || live[0] != r.CurrentKeyID {
		t.Errorf("live keys %v, want only %s", live, r.CurrentKeyID)
	}
	h.assertNoSecretLeak()
}
