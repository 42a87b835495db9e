package rotation

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rotatord/rotatord/sinks"
	"github.com/rotatord/rotatord/state"
)

// Two policies with records of ci-runner, each up to date with a key of
// roleCI of its own that its sinks hold, and a key of another role that
// only ci (any role) matches. ci2 (roleCI only), placed first, is given
// ci's key too (the first record of the key's role up to date, not the
// one that names the key); ci, given only the key of the other role,
// yields the name; ci2 adopts its own key from its sinks and deletes ci's:
// an outage for ci's consumers.
func TestARecordKeepsTheKeyItNamesWhenAnotherOfItsRoleIsUpToDate(t *testing.T) {
	h := newHarness(t, time.Hour)
	const otherRole = "33333333-3333-3333-3333-333333333333"
	sinkC := newMemSink("c")
	h.api.sinks = []*memSink{h.sinkA, h.sinkB, sinkC}
	ci2 := Policy{
		Name:   "ci2",
		Match:  func(name, role string) bool { return strings.HasPrefix(name, "ci-r") && role == roleCI },
		MaxAge: 24 * time.Hour, GracePeriod: time.Hour,
		Sinks: toSinks(sinkC),
	}
	mine := h.api.add("ci-runner", roleCI)
	theirs := h.api.add("ci-runner", roleCI)
	now := h.clock.Now()
	for _, r := range []struct {
		policy, key string
		s           []*memSink
	}{{"ci", mine, []*memSink{h.sinkA, h.sinkB}}, {"ci2", theirs, []*memSink{sinkC}}} {
		rec := state.Record{Policy: r.policy, Name: "ci-runner", RoleID: roleCI, CurrentKeyID: r.key, CurrentSince: now}
		rec.FirstSeen.Set(r.key, now)
		for _, s := range r.s {
			_ = s.Write(context.Background(), sinks.Credential{Name: "ci-runner", KeyID: r.key, RoleID: roleCI, Secret: "SECRET-x"})
			rec.Delivered.Set(s.Kind()+":"+s.Target("ci-runner"), state.Delivery{KeyID: r.key})
		}
		if err := h.store.Put(rec); err != nil {
			t.Fatal(err)
		}
	}
	h.api.add("ci-runner", otherRole)
	if err := h.engine.SetPolicies([]Policy{ci2, h.policy}); err != nil {
		t.Fatal(err)
	}
	for range 6 {
		h.clock.Add(30 * time.Minute)
		h.pass(Options{})
		h.engine.DeleteDue(context.Background())
	}
	if live := h.api.live("ci-runner"); !slices.Contains(live, mine) {
		t.Errorf("ci's key %s, which ci's sinks hold, was deleted (live %v)", mine, live)
	}
	if r, ok := h.store.Get("ci", "ci-runner"); !ok || r.CurrentKeyID != mine {
		t.Errorf("ci's record %+v, want it to keep its key %s", r, mine)
	}
}
