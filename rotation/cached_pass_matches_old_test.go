package rotation

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// disturbNoJournal changes the world but not the journal: keys in
// the API, sinks, the clock (both ways), the own key's name.
func disturbNoJournal(h *harness, rng *rand.Rand) {
	for i := range 16 {
		name := fmt.Sprintf("ci-%02d", i)
		live := h.api.live(name)
		if rng.IntN(3) != 0 {
			continue
		}
		switch rng.IntN(20) {
		case 0:
			h.api.add(name, roleCI)
		case 1:
			h.api.add(name, diffOtherRole)
		case 2:
			h.api.mu.Lock()
			for _, id := range live {
				delete(h.api.keys, id)
			}
			h.api.mu.Unlock()
		case 3:
			h.api.mu.Lock()
			for _, id := range live {
				k := h.api.keys[id]
				k.RoleID = diffOtherRole
				h.api.keys[id] = k
			}
			h.api.mu.Unlock()
		case 4:
			h.sinkB.mu.Lock()
			delete(h.sinkB.held, name)
			h.sinkB.mu.Unlock()
		}
	}
	switch rng.IntN(6) {
	case 0:
		h.clock.Add(-time.Duration(rng.Int64N(int64(30 * time.Hour))))
	case 1:
		h.clock.Add(time.Duration(rng.Int64N(int64(time.Minute))))
	default:
		h.clock.Add(time.Duration(rng.Int64N(int64(30 * time.Hour))))
	}
}

// TestCachedPassMatchesOldPass: many passes over one engine, with
// changes to the world that leave the journal as it is (so the quiet set
// is reused) and some that change it.
func TestCachedPassMatchesOldPass(t *testing.T) {
	for seed := range diffSeeds() {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			hOld, hNew := newHarness(t, time.Hour), newHarness(t, time.Hour)
			rOld, rNew := diffWorld(t, hOld, seed), diffWorld(t, hNew, seed)
			reused := 0
			for step := range 30 {
				opts := Options{}
				if step == 1 {
					opts.Force = true
				}
				if step%7 == 5 {
					opts.IgnoreBackoff = true
				}
				before := hNew.cachedQuiet()
				oOld, err := hOld.engine.passOld(context.Background(), nil, opts)
				if err != nil {
					t.Fatal(err)
				}
				oNew := hNew.pass(opts)
				if before != nil && hNew.cachedQuiet() == before {
					reused++
				}
				if a, b := diffOutcomes(oOld), diffOutcomes(oNew); a != b {
					t.Fatalf("step %d: outcomes differ\n%s", step, lineDiff(a, b))
				}
				if a, b := diffSnapshot(hOld), diffSnapshot(hNew); a != b {
					t.Fatalf("step %d: worlds differ\n%s", step, lineDiff(a, b))
				}
				switch {
				case step == 0:
					hOld.clock.Add(time.Minute)
					hNew.clock.Add(time.Minute)
				case step%4 == 3:
					diffDisturb(t, hOld, rOld)
					diffDisturb(t, hNew, rNew)
				case step%4 == 1:
					d := time.Duration(rOld.Int64N(int64(48*time.Hour))) - 12*time.Hour
					rNew.Int64N(int64(48 * time.Hour))
					hOld.clock.Add(d)
					hNew.clock.Add(d)
				default:
					disturbNoJournal(hOld, rOld)
					disturbNoJournal(hNew, rNew)
				}
			}
			t.Logf("reused %d", reused)
		})
	}
}

// TestQuietWorldCachedPassMatchesOldPass: a world of fresh names,
// where most passes change nothing in the journal and reuse the set.
func TestQuietWorldCachedPassMatchesOldPass(t *testing.T) {
	for seed := range diffSeeds() {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			hOld, hNew := serialQuietHarness(t, 16), serialQuietHarness(t, 16)
			rOld, rNew := rand.New(rand.NewPCG(seed, 7)), rand.New(rand.NewPCG(seed, 7))
			reused := 0
			for step := range 40 {
				before := hNew.cachedQuiet()
				oOld, err := hOld.engine.passOld(context.Background(), nil, Options{})
				if err != nil {
					t.Fatal(err)
				}
				oNew := hNew.pass(Options{})
				if before != nil && hNew.cachedQuiet() == before {
					reused++
				}
				if a, b := diffOutcomes(oOld), diffOutcomes(oNew); a != b {
					t.Fatalf("step %d: outcomes differ\n%s", step, lineDiff(a, b))
				}
				if a, b := diffSnapshot(hOld), diffSnapshot(hNew); a != b {
					t.Fatalf("step %d: worlds differ\n%s", step, lineDiff(a, b))
				}
				switch rOld.IntN(3) {
				case 0:
					rNew.IntN(3)
					d := time.Duration(rOld.Int64N(int64(30*time.Hour))) - 6*time.Hour
					rNew.Int64N(int64(30 * time.Hour))
					hOld.clock.Add(d)
					hNew.clock.Add(d)
				default:
					rNew.IntN(3)
					disturbNoJournal(hOld, rOld)
					disturbNoJournal(hNew, rNew)
				}
			}
			t.Logf("reused %d", reused)
		})
	}
}

// serialQuietHarness is quietHarness with one handler at a time, so two
// of them get the same key ids.
func serialQuietHarness(t *testing.T, n int) *harness {
	return quietHarnessWith(t, n, func(h *harness) { h.engine.Reconfigure(h.api, h.own, 1) })
}

// diffSeeds is the number of random worlds: fewer with -short, which
// runs under the race detector, many times slower.
func diffSeeds() uint64 {
	n := uint64(80)
	if testing.Short() {
		n = 16
	}
	if diffNoStale == 0 {
		n /= 2 // TestPassMatchesOldPassWithStaleRecords runs both tests
	}
	return n
}
