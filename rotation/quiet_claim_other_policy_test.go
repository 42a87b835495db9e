package rotation

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rotatord/rotatord/state"
)

// TestClaimHidesKeyFromAnotherPolicysRecord: ci-00's record is
// quiet, so claim takes its one key K out of the listing; a record of the
// same name in another policy ("ops", which does not match the key), with
// a rotation in flight that names K, then gets a handler whose live and
// all lack K. The pass of 11f5c8c (and a dry run) gave it [K]: the
// outcome's KeyIDs differ, and Reconcile drops K from the ops record's
// first_seen and rewrites it.
func TestClaimHidesKeyFromAnotherPolicysRecord(t *testing.T) {
	for _, old := range []bool{true, false} {
		h := newHarness(t, 0)
		ops := Policy{Name: "ops", Match: func(name, role string) bool { return strings.HasPrefix(name, "ops-") },
			MaxAge: 24 * time.Hour, GracePeriod: time.Hour, Sinks: toSinks(h.sinkA)}
		if err := h.engine.SetPolicies([]Policy{h.policy, ops}); err != nil {
			t.Fatal(err)
		}
		h.api.add("ci-00", roleCI)
		h.pass(Options{})
		h.clock.Add(time.Minute)
		h.pass(Options{Force: true})
		k := h.record("ci-00").CurrentKeyID
		now := h.clock.Now()
		r := state.Record{Policy: "ops", Name: "ci-00", RoleID: roleCI, CurrentKeyID: k, CurrentSince: now,
			FirstSeen: state.KeyTimesOf(map[string]time.Time{k: now}),
			Rotation: &state.Rotation{Phase: state.PhaseDelivered, NewKeyID: k, StartedAt: now, DeliveredAt: now,
				DeleteAfter: now.Add(time.Hour), RoleID: roleCI}}
		if err := h.store.Put(r); err != nil {
			t.Fatal(err)
		}
		h.clock.Add(time.Minute)
		dry := h.pass(Options{DryRun: true})
		var out []Outcome
		if old {
			var err error
			if out, err = h.engine.passOld(context.Background(), nil, Options{}); err != nil {
				t.Fatal(err)
			}
		} else {
			out = h.pass(Options{})
		}
		i := slices.IndexFunc(out, func(o Outcome) bool { return o.Policy == "ops" && o.Name == "ci-00" })
		j := slices.IndexFunc(dry, func(o Outcome) bool { return o.Policy == "ops" && o.Name == "ci-00" })
		after, _ := h.store.Get("ops", "ci-00")
		t.Logf("old pass=%v: ops/ci-00 pass keys %v (dry run %v), first_seen after %v", old, out[i].KeyIDs, dry[j].KeyIDs, after.FirstSeen)
		if !slices.Equal(out[i].KeyIDs, dry[j].KeyIDs) {
			t.Errorf("old pass=%v: ops/ci-00 reported keys %v, the dry run %v", old, out[i].KeyIDs, dry[j].KeyIDs)
		}
		if !after.FirstSeen.Has(k) {
			t.Errorf("old pass=%v: the ops record lost first_seen of the live key %s", old, k)
		}
	}
}
