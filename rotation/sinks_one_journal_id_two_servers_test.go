package rotation

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rotatord/rotatord/secret"
	"github.com/rotatord/rotatord/sinks"
	"github.com/rotatord/rotatord/state"
)

// serverSink is a memSink on a server its target does not name, as a
// Vault sink's target is its mount and path alone.
type serverSink struct {
	*memSink
	server string
}

func (s serverSink) Endpoint() string { return s.server }

// Two sinks of one policy with one target text on two servers (two Vault
// sinks of one mount and path on two addresses) have one id in the state
// journal (sinkID: kind and target), so it cannot tell their deliveries
// apart: the second, added by a reload during a grace period, counted as
// holding the new key the first was given, was never caught up, and the
// name stayed with the old key it held and an old key that could not be
// deleted (or, empty, with no key until the next rotation). Such sinks are
// refused as one target, before anything is written, with an error that
// says why.
func TestSinksOfOneJournalIDOnTwoServersAreRefused(t *testing.T) {
	h := newHarness(t, 10*time.Hour)
	a := serverSink{newMemSink("a"), "https://vault-1.example:443/"}
	b := serverSink{newMemSink("a"), "https://vault-2.example:443/"}
	h.policy.Sinks = []sinks.Sink{a}
	h.newEngine()
	cur := h.api.add("ci-x", roleCI)
	a.held["ci-x"] = sinks.Credential{Name: "ci-x", KeyID: cur, Secret: secret.Value("SECRET-OF-" + cur)}
	if err := h.store.Put(state.Record{Policy: "ci", Name: "ci-x", CurrentKeyID: cur, RoleID: roleCI,
		CurrentSince: h.clock.Now().Add(-48 * time.Hour), CreatedByUs: true,
		Delivered: state.Deliveries{{Sink: sinkID(a, "ci-x"), Delivery: state.Delivery{KeyID: cur}}}}); err != nil {
		t.Fatal(err)
	}
	if o := findOutcome(h.pass(Options{}), "ci-x"); o.Decision.Action != ActionRotate || o.Err != nil {
		t.Fatalf("rotation: %+v %v", o.Decision, o.Err)
	}
	h.policy.Sinks = []sinks.Sink{a, b}
	if err := h.engine.SetPolicies([]Policy{h.policy}); err != nil {
		t.Fatal(err)
	}
	var last Outcome
	for range 3 {
		last = findOutcome(h.pass(Options{}), "ci-x")
		h.engine.DeleteDue(context.Background())
		h.clock.Add(6 * time.Hour)
	}
	if got, want := b.holds("ci-x"), a.holds("ci-x"); got != want {
		if last.Err == nil || !strings.Contains(last.Err.Error(), "cannot tell") {
			t.Errorf("sink b holds %q, a holds %q, and the pass says %v: want b caught up, or the two sinks refused as one journal id", got, want, last.Err)
		}
	}
	// A new name of the policy: refused before any key is made.
	h.api.add("ci-y", roleCI)
	o := findOutcome(h.pass(Options{Force: true, DryRun: true}), "ci-y")
	if o.Err == nil || !strings.Contains(o.Err.Error(), "cannot tell") {
		t.Errorf("plan of ci-y: %+v %v, want the two sinks refused", o.Decision, o.Err)
	}
}
