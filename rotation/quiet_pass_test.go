package rotation

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient"
)

// TestQuietPassAgreesWithDryRun: a pass answers quiet names from the
// journal read while its listing was on the wire (quiet.go), and hands the
// rest to handlers. A dry run has no quiet path (every name gets a
// handler), so on the same world both must report the same names, in the
// same order, and the same decision for every name the pass called fresh.
// Random worlds disturb the quiet names in every way claim checks: a
// second key of the role or of another role, a key gone out of band, a
// failure, a name due, a record of the same name in a second policy, new
// and unsafe names.
func TestQuietPassAgreesWithDryRun(t *testing.T) {
	const otherRole = "33333333-3333-3333-3333-333333333333"
	for seed := range uint64(40) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 17))
			h := newHarness(t, 0)
			ops := Policy{Name: "ops", Match: func(name, role string) bool { return len(name) > 4 && name[:4] == "ops-" },
				MaxAge: 24 * time.Hour, Sinks: toSinks(h.sinkA)}
			if err := h.engine.SetPolicies([]Policy{h.policy, ops}); err != nil {
				t.Fatal(err)
			}
			for i := range 30 {
				h.api.add(fmt.Sprintf("ci-%02d", i), roleCI)
			}
			for i := range 5 {
				h.api.add(fmt.Sprintf("ops-%02d", i), roleCI)
			}
			h.pass(Options{})
			h.clock.Add(time.Minute)
			h.pass(Options{Force: true})
			h.clock.Add(time.Duration(rng.Int64N(int64(30 * time.Hour))))
			for _, o := range h.pass(Options{}) {
				if o.Err != nil {
					t.Fatalf("%s: %v", o.Name, o.Err)
				}
			}

			for i := range 30 {
				name := fmt.Sprintf("ci-%02d", i)
				live := h.api.live(name)
				if rng.IntN(5) == 0 { // a record of the name in a second policy too
					if r, ok := h.store.Get("ci", name); ok {
						r.Policy = "ops"
						if err := h.store.Put(r); err != nil {
							t.Fatal(err)
						}
					}
				}
				switch rng.IntN(8) {
				case 0:
					h.api.add(name, roleCI)
				case 1:
					h.api.add(name, otherRole)
				case 2: // gone out of band
					h.api.mu.Lock()
					for _, id := range live {
						delete(h.api.keys, id)
					}
					h.api.mu.Unlock()
				case 3:
					if r, ok := h.store.Get("ci", name); ok {
						r.Failures, r.LastFailure, r.LastError = 1, h.clock.Now().Add(-time.Hour), "boom"
						if err := h.store.Put(r); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
			h.api.add("ci-new", roleCI)
			h.api.add("ci-bad name", roleCI)
			if rng.IntN(2) == 0 {
				h.clock.Add(time.Duration(rng.Int64N(int64(30 * time.Hour))))
			}

			dry := h.pass(Options{DryRun: true})
			real := h.pass(Options{})
			if len(dry) != len(real) {
				t.Fatalf("dry run %d outcomes, pass %d", len(dry), len(real))
			}
			fresh := 0
			for i := range real {
				d, r := dry[i], real[i]
				if d.Policy != r.Policy || d.Name != r.Name {
					t.Fatalf("outcome %d: dry run %s/%s, pass %s/%s", i, d.Policy, d.Name, r.Policy, r.Name)
				}
				if r.Err == nil && r.Decision.Reason == ReasonFresh {
					fresh++
				}
				// Every name is given the keys the listing shows for it, and
				// a quiet one decides as its handler's dry run does (a
				// handler that acts reports what it did, which may differ).
				if !slices.Equal(d.KeyIDs, r.KeyIDs) || r.Decision.Reason == ReasonFresh {
					if (d.Err == nil) != (r.Err == nil) || d.Decision != r.Decision || !slices.Equal(d.KeyIDs, r.KeyIDs) {
						t.Errorf("%s/%s: pass %+v %v (keys %v), dry run %+v %v (keys %v)", r.Policy, r.Name,
							r.Decision, r.Err, r.KeyIDs, d.Decision, d.Err, d.KeyIDs)
					}
				}
			}
			if !slices.IsSortedFunc(real, func(a, b Outcome) int { return compareName(a.Policy, a.Name, b.Policy, b.Name) }) {
				t.Errorf("outcomes not in the order of the names: %v", real)
			}
			if fresh == 0 {
				t.Logf("seed %d: no fresh name", seed)
			}
		})
	}
}

// TestQuietPassRaceWithARotation: the journal's side of the quiet names is
// read concurrently with the listing. A rotation of a quiet name that lands
// right then, by another pass, must neither be done twice nor leave a sink
// behind: the pass reports the name, and nothing creates or deletes a key.
func TestQuietPassRaceWithARotation(t *testing.T) {
	for _, before := range []bool{true, false} {
		t.Run(fmt.Sprintf("hook-before-listing=%v", before), func(t *testing.T) {
			h := newHarness(t, 0)
			for i := range 5 {
				h.api.add(fmt.Sprintf("ci-%d", i), roleCI)
			}
			h.pass(Options{})
			h.clock.Add(time.Minute)
			h.pass(Options{Force: true})
			other := h.engine
			ra := &hookedListAPI{fakeAPI: h.api, before: before, hook: func() {
				if _, err := other.Pass(context.Background(), nil, Options{Force: true}); err != nil {
					t.Errorf("the other pass: %v", err)
				}
			}}
			h.engine.Reconfigure(ra, h.own, 4)
			issued := len(h.api.issued)
			out := h.pass(Options{})
			if got := len(h.api.issued) - issued; got != 5 {
				t.Errorf("%d keys created, want the other pass's 5", got)
			}
			for _, o := range out {
				if o.Err != nil {
					t.Errorf("%s: %v", o.Name, o.Err)
				}
			}
			for i := range 5 {
				name := fmt.Sprintf("ci-%d", i)
				live := h.api.live(name)
				if len(live) != 1 {
					t.Errorf("%s: live keys %v, want one", name, live)
					continue
				}
				r := h.record(name)
				if r.CurrentKeyID != live[0] || h.sinkA.holds(name) != live[0] || h.sinkB.holds(name) != live[0] {
					t.Errorf("%s: live %s, record %s, sinks %s %s", name, live[0], r.CurrentKeyID, h.sinkA.holds(name), h.sinkB.holds(name))
				}
			}
		})
	}
}

// hookedListAPI runs hook once in its first ListKeys: before the listing
// is taken, or after.
type hookedListAPI struct {
	*fakeAPI
	before bool
	hook   func()
	done   bool
}

func (a *hookedListAPI) ListKeys(ctx context.Context) ([]apiclient.Key, error) {
	first := !a.done
	a.done = true
	if first && a.before {
		a.hook()
	}
	keys, err := a.fakeAPI.ListKeys(ctx)
	if first && !a.before {
		a.hook()
	}
	return keys, err
}
