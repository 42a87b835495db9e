package rotation

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rotatord/rotatord/state"
)

// Two policies whose globs overlap ("ci-*" then "ci-r*"): the first
// manages ci-runner, and its sinks hold ci-runner's current key. A record
// of the second policy for ci-runner, edited by hand (or restored from
// another configuration), named that key as an old key, as the new key of
// an interrupted rotation, as a key its orphan search did not know, or as
// a key it deleted that the API still lists: each deletion checked only
// that the key has the record's name and role and that the record's own
// policy matches it, so rotatord deleted the key the first policy's
// consumers use (an outage). A key another policy in force manages and
// names in its record is left alone, and the refusal counted.
func TestARecordOfAnotherPolicyCannotDeleteTheKeyItManages(t *testing.T) {
	for _, forge := range []struct {
		name string
		rec  func(cur, old string, now time.Time) state.Record
	}{
		{"delivered rotation's old key", func(cur, old string, now time.Time) state.Record {
			return state.Record{Policy: "ci2", Name: "ci-runner", RoleID: roleCI, CurrentKeyID: old, CurrentSince: now.Add(-time.Hour),
				Rotation: &state.Rotation{Phase: state.PhaseDelivered, StartedAt: now.Add(-time.Hour), OldKeyIDs: []string{cur}, RoleID: roleCI,
					NewKeyID: old, NewCreatedAt: now.Add(-time.Hour), DeliveredAt: now.Add(-time.Hour), DeleteAfter: now.Add(-time.Minute)}}
		}},
		{"created rotation's new key", func(cur, old string, now time.Time) state.Record {
			return state.Record{Policy: "ci2", Name: "ci-runner", RoleID: roleCI, CurrentKeyID: old, CurrentSince: now.Add(-time.Hour),
				Rotation: &state.Rotation{Phase: state.PhaseCreated, StartedAt: now.Add(-time.Hour), OldKeyIDs: []string{old}, RoleID: roleCI,
					NewKeyID: cur, NewCreatedAt: now.Add(-time.Hour)}}
		}},
		{"intent's unknown key", func(cur, old string, now time.Time) state.Record {
			return state.Record{Policy: "ci2", Name: "ci-runner", RoleID: roleCI, CurrentKeyID: old, CurrentSince: now.Add(-2 * time.Hour),
				Rotation: &state.Rotation{Phase: state.PhaseIntent, StartedAt: now.Add(-2 * time.Hour), OldKeyIDs: []string{old},
					KnownKeyIDs: []string{old}, RoleID: roleCI}}
		}},
		{"deleted key still listed", func(cur, old string, now time.Time) state.Record {
			return state.Record{Policy: "ci2", Name: "ci-runner", RoleID: roleCI, CurrentKeyID: old, CurrentSince: now.Add(-time.Hour),
				Deleted: state.KeyTimesOf(map[string]time.Time{cur: now.Add(-time.Hour)})}
		}},
	} {
		t.Run(strings.ReplaceAll(forge.name, " ", "_"), func(t *testing.T) {
			h := newHarness(t, time.Hour)
			sinkC := newMemSink("c")
			second := Policy{
				Name:   "ci2",
				Match:  func(name, role string) bool { return strings.HasPrefix(name, "ci-r") },
				MaxAge: 24 * time.Hour, GracePeriod: time.Hour,
				Sinks: toSinks(sinkC),
			}
			if err := h.engine.SetPolicies([]Policy{h.policy, second}); err != nil {
				t.Fatal(err)
			}
			old := h.api.add("ci-runner", roleCI)
			h.pass(Options{})
			h.clock.Add(time.Minute)
			h.pass(Options{Force: true})
			cur := h.sinkA.holds("ci-runner")
			if cur == "" || cur == old || h.sinkB.holds("ci-runner") != cur {
				t.Fatalf("setup: sinks hold %q and %q, want the new key, not %s", cur, h.sinkB.holds("ci-runner"), old)
			}
			if err := h.store.Put(forge.rec(cur, old, h.clock.Now())); err != nil {
				t.Fatal(err)
			}
			h.clock.Add(5 * time.Minute)
			h.pass(Options{})
			h.engine.DeleteDue(context.Background())
			h.clock.Add(5 * time.Minute)
			h.pass(Options{})
			h.engine.DeleteDue(context.Background())
			if !slices.Contains(h.api.live("ci-runner"), cur) {
				t.Errorf("the key policy ci's sinks hold (%s) was deleted through a record of policy ci2", cur)
			}
			if h.rec.refused == 0 {
				t.Errorf("no deletion refused")
			}
		})
	}
}

// The other side: the policy that manages the name (the first in order
// with a record of it) deletes its old key even when a later policy's
// stale record still names that key (a policy that managed the name
// before a change of the file): the later policy's record does not make
// it the key's manager.
func TestAStaleRecordOfALaterPolicyDoesNotKeepTheManagersOldKey(t *testing.T) {
	h := newHarness(t, time.Hour)
	second := Policy{
		Name:   "ci2",
		Match:  func(name, role string) bool { return strings.HasPrefix(name, "ci-r") },
		MaxAge: 24 * time.Hour, GracePeriod: time.Hour,
		Sinks: toSinks(newMemSink("c")),
	}
	if err := h.engine.SetPolicies([]Policy{h.policy, second}); err != nil {
		t.Fatal(err)
	}
	old := h.api.add("ci-runner", roleCI)
	h.pass(Options{})
	if err := h.store.Put(state.Record{Policy: "ci2", Name: "ci-runner", RoleID: roleCI, CurrentKeyID: old, CurrentSince: h.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	h.clock.Add(time.Minute)
	h.pass(Options{Force: true})
	h.clock.Add(2 * time.Hour)
	h.engine.DeleteDue(context.Background())
	if slices.Contains(h.api.live("ci-runner"), old) {
		t.Errorf("the old key %s outlived its grace period", old)
	}
	if h.rec.refused != 0 {
		t.Errorf("%d deletions refused", h.rec.refused)
	}
}
