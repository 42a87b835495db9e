package rotation

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rotatord/rotatord/sinks"
	"github.com/rotatord/rotatord/sinks/file"
)

// Renaming a policy (README, "Renaming a policy") is safe but not free:
// the records belong to the old name, so the renamed policy adopts every
// key afresh (adopt: wait restarts its age; the deliveries to targets it
// renders come along), and its sinks refuse the files
// the old name's sinks marked until take_over lets them replace them. No
// key is made for a name whose sink refuses, and the consumer keeps a
// working key throughout.
func TestRenamingAPolicy(t *testing.T) {
	h := newHarness(t, 0)
	dir := t.TempDir()
	sink := func(policy string, takeOver bool) sinks.Sink {
		return fileSinkWith(t, dir+"/{{.Name}}.env", file.Options{Format: file.FormatEnv, Policy: policy, TakeOver: takeOver})
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
	// The old name's delivery comes along: the target is ci-a's from the
	// record's first write (no window in which another name could take it).
	sid := sinkID(renamed.Sinks[0], "ci-a")
	was, _ := h.store.Get("ci", "ci-a")
	before, _ := was.Delivered.Get(sid)
	if d, ok := r.Delivered.Get(sid); !ok || d != before {
		t.Errorf("ci-keys' record of ci-a delivered %+v (found %v) to its file, want the old name's delivery %+v", d, ok, before)
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

// The rename's take_over turns the markers off, and the renamed policy has
// no records yet: a hostile name refused before the rename must still be
// refused, the old name's records giving the targets to their names (found
// by review: the index read the records of policies in force only, and the
// hostile name, sorted first, took the victim's file).
func TestARenameWithTakeOverKeepsTargetsToTheirNames(t *testing.T) {
	h, dir, _, _ := pairHarness(t, 0)
	h.api.add("ci-a.docker", roleCI) // the victim: its env file is dir/ci-a.docker.env
	if o := findOutcome(h.pass(Options{Force: true}), "ci-a.docker"); o.Err != nil {
		t.Fatal(o.Err)
	}
	h.api.add("ci-a", roleCI) // hostile: its docker file is the same
	if o := findOutcome(h.pass(Options{Force: true}), "ci-a"); o.Err == nil {
		t.Fatal("setup: ci-a not refused before the rename")
	}

	renamed := h.policy
	renamed.Name = "ci-keys"
	env2, docker2 := pairOfSinks(t, dir, "ci-keys", true)
	renamed.Sinks = []sinks.Sink{env2, docker2}
	if err := h.engine.SetPolicies([]Policy{renamed}); err != nil {
		t.Fatal(err)
	}
	out := h.pass(Options{})
	victim, _ := h.store.Get("ci-keys", "ci-a.docker")
	got, err := env2.Read(context.Background(), "ci-a.docker")
	if err != nil || got.KeyID != victim.CurrentKeyID {
		t.Errorf("after the rename %s/ci-a.docker.env holds %s (err %v), want the victim's key %s; ci-a: %v; ci-a.docker: %v",
			dir, got.KeyID, err, victim.CurrentKeyID, findOutcome(out, "ci-a").Err, findOutcome(out, "ci-a.docker").Err)
	}
	if o := findOutcome(out, "ci-a"); o.Err == nil || !strings.Contains(o.Err.Error(), `"ci-a.docker"`) {
		t.Errorf("ci-a: %v, want refused, naming ci-a.docker", o.Err)
	}
	h.assertNoSecretLeak()
}
