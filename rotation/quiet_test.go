package rotation

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/internal/window"
	"github.com/rotatord/rotatord/sinks"
	"github.com/rotatord/rotatord/state"
)

// TestQuietDecisionIsTheHandlers: a pass skips the handler of a name
// quietDecision calls quiet, so that must be exactly a name whose handler
// decides the same, writes no record, and calls neither the API nor a
// sink. Random records and listings around every condition it checks; the
// handler runs on each one it calls quiet.
func TestQuietDecisionIsTheHandlers(t *testing.T) {
	const otherRole = "33333333-3333-3333-3333-333333333333"
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	quiet, loud := 0, 0
	for seed := range uint64(1000) {
		rng := rand.New(rand.NewPCG(seed, 16))
		p := func(x float64) bool { return rng.Float64() < x }

		api := newFakeAPI(t)
		sinkA, sinkB := newMemSink("a"), newMemSink("b")
		sinkList := []*memSink{sinkA}
		if p(0.3) {
			sinkList = append(sinkList, sinkB)
		}
		api.sinks = sinkList
		own := api.add("rotatord-admin", "admin-role")
		name := "ci-name"
		role := roleCI
		if p(0.05) {
			role = ""
		}
		cur := api.add(name, role)
		if p(0.1) {
			api.add(name, roleCI) // a second key of the role
		}
		if p(0.1) {
			api.add(name, otherRole) // another credential under the name
		}
		zombie := ""
		if p(0.05) {
			zombie = api.add(name, role) // deleted by rotatord, still listed
		}
		ownID := own
		if p(0.03) {
			ownID = cur
		}
		store, err := state.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		// Closed before its directory is removed: an open store's idle
		// checkpoint could still be writing record files into it.
		t.Cleanup(func() { store.Close() })
		e := New(Config{API: api, Store: store, Logger: zap.NewNop(), OwnKeyID: ownID, Now: func() time.Time { return now }})
		pol := Policy{
			Name:   "ci",
			Match:  func(n, r string) bool { return n == name && r != otherRole },
			MaxAge: 24 * time.Hour,
			Sinks:  toSinks(sinkList...),
		}
		if p(0.3) {
			pol.Jitter = time.Hour
		}
		if p(0.2) { // now (12:00 UTC) inside the window, or outside it
			start := 9 * time.Hour
			if p(0.5) {
				start = 13 * time.Hour
			}
			pol.Windows = window.Set{{Days: [7]bool{true, true, true, true, true, true, true}, Start: start, End: start + 3*time.Hour, Zone: time.UTC}}
		}
		pol.AdoptRotate = p(0.1)
		e.SetPolicies([]Policy{pol})
		settle := e.settleTime()

		rec := state.Record{Policy: "ci", Name: name, RoleID: role, CurrentKeyID: cur, CreatedByUs: true,
			CurrentSince: now.Add(-time.Duration(rng.Int64N(int64(30 * time.Hour)))),
			FirstSeen:    state.KeyTimesOf(map[string]time.Time{cur: now.Add(-time.Hour)}),
			Delivered:    state.DeliveriesOf(map[string]state.Delivery{}),
		}
		switch {
		case p(0.05):
			rec.RoleID = otherRole
		case p(0.05):
			rec.CurrentKeyID = "EXOgone"
		case p(0.03):
			rec.CurrentSince = time.Time{}
		}
		if p(0.05) {
			rec.FirstSeen.Set("EXOextra", now)
		}
		if p(0.05) {
			rec.FirstSeen.Delete(cur)
		}
		for _, s := range sinkList {
			switch {
			case p(0.85):
				rec.Delivered.Set(sinkID(s, name), state.Delivery{KeyID: cur})
				s.held[name] = sinks.Credential{Name: name, KeyID: cur, RoleID: role, Secret: "S"}
			case p(0.5):
				rec.Delivered.Set(sinkID(s, name), state.Delivery{KeyID: "EXOold"})
			}
		}
		if zombie != "" {
			rec.Deleted = state.KeyTimesOf(map[string]time.Time{zombie: now.Add(-time.Duration(rng.Int64N(int64(2 * settle))))})
		} else if p(0.4) {
			rec.Deleted = state.KeyTimesOf(map[string]time.Time{"EXOdeleted": now.Add(-time.Duration(rng.Int64N(int64(2 * settle))))})
			if p(0.1) {
				rec.Deleted = state.KeyTimesOf(map[string]time.Time{cur: now.Add(-time.Minute)})
			}
		}
		if p(0.08) {
			rec.Rotation = &state.Rotation{Phase: state.PhaseDelivered, StartedAt: now.Add(-time.Hour), NewKeyID: cur,
				OldKeyIDs: []string{"EXOdeleted"}, DeliveredAt: now.Add(-time.Hour), DeleteAfter: now.Add(time.Hour)}
		}
		if p(0.08) {
			rec.Failures, rec.LastFailure, rec.LastError = 1, now.Add(-time.Duration(rng.Int64N(int64(2*time.Minute)))), "boom"
		}
		if p(0.04) {
			rec.FailureHookPending = now.Add(-time.Minute)
		}
		if err := store.Put(rec); err != nil {
			t.Fatal(err)
		}
		opts := Options{Force: p(0.05), IgnoreBackoff: p(0.1), IgnoreWindows: p(0.1)}

		keys, err := api.ListKeys(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var live, all []apiclient.Key
		for _, k := range keys {
			if k.Name == name {
				all = append(all, k)
				if pol.Match(k.Name, k.RoleID) {
					live = append(live, k)
				}
			}
		}
		stored, _ := store.Get("ci", name)
		d, ok := quietDecision(pol, &stored, live, all, ownID, now, opts)
		if !ok {
			loud++
			store.Close()
			continue
		}
		quiet++
		writes := sinkA.writes + sinkB.writes
		issued, deleted, gets := len(api.issued), len(api.deleted), api.gets
		_, policyGen := e.snapshotPolicies()
		j := job{policy: &pol, name: name, live: live, all: all, gen: e.generation(name), policyGen: policyGen}
		o := e.handle(context.Background(), j, &passWork{done: map[string]uint64{}}, opts)
		after, _ := store.Get("ci", name)
		what := fmt.Sprintf("seed %d: record %+v, live %v, all %v, opts %+v", seed, rec, live, all, opts)
		if o.Err != nil || o.Decision != d {
			t.Errorf("%s: quiet says %+v, the handler %+v (%v)", what, d, o.Decision, o.Err)
		}
		if !reflect.DeepEqual(after, stored) {
			t.Errorf("%s: the handler changed the record to %+v", what, after)
		}
		if sinkA.writes+sinkB.writes != writes || len(api.issued) != issued || len(api.deleted) != deleted || api.gets != gets {
			t.Errorf("%s: the handler acted (sink writes, creates, deletes or GETs)", what)
		}
		store.Close()
	}
	// Both sides must be well visited for the test to mean anything.
	if quiet < 100 || loud < 100 {
		t.Errorf("%d quiet and %d other cases: the generator no longer covers both", quiet, loud)
	}
}
