package rotation

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient"
)

// reloadListAPI runs hook inside every ListKeys, before or after the
// listing is taken.
type reloadListAPI struct {
	*fakeAPI
	hook func()
}

func (a *reloadListAPI) ListKeys(ctx context.Context) ([]apiclient.Key, error) {
	a.hook()
	k, err := a.fakeAPI.ListKeys(ctx)
	a.hook()
	return k, err
}

// TestConcurrentPassesReloadsDeleter: passes (some forced), the
// deleter and reloads (inside the listing) at once, the clock moving: no
// outage, no third key, sinks hold live keys, every listed name reported.
func TestConcurrentPassesReloadsDeleter(t *testing.T) {
	for seed := range uint64(6) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			h := newHarness(t, 10*time.Minute)
			const n = 12
			for i := range n {
				h.api.add(fmt.Sprintf("ci-%02d", i), roleCI)
			}
			h.pass(Options{})
			h.clock.Add(time.Minute)
			h.pass(Options{Force: true})
			var mu sync.Mutex
			rng := rand.New(rand.NewPCG(seed, 5))
			pol := h.policy
			api := &reloadListAPI{fakeAPI: h.api, hook: func() {
				mu.Lock()
				r := rng.IntN(4)
				mu.Unlock()
				switch r {
				case 0:
					p := pol
					p.Sinks = toSinks(h.sinkA, h.sinkB)
					_ = h.engine.SetPolicies([]Policy{p})
				case 1:
					p := pol
					p.MaxAge = time.Duration(1+r) * time.Hour
					_ = h.engine.SetPolicies([]Policy{p})
				case 2:
					h.clock.Add(7 * time.Minute)
				}
			}}
			h.engine.Reconfigure(api, h.own, 3)
			var wg sync.WaitGroup
			for g := range 3 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range 15 {
						opts := Options{Force: (g+i)%5 == 0}
						out, err := h.engine.Pass(context.Background(), nil, opts)
						if err != nil {
							t.Errorf("pass: %v", err)
							return
						}
						seen := map[string]bool{}
						for _, o := range out {
							if seen[o.Policy+"/"+o.Name] {
								t.Errorf("%s/%s reported twice", o.Policy, o.Name)
							}
							seen[o.Policy+"/"+o.Name] = true
						}
					}
				}()
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 40 {
					h.engine.DeleteDue(context.Background())
					time.Sleep(time.Millisecond)
				}
			}()
			wg.Wait()
			h.assertAtMostTwoKeys()
			for i := range n {
				h.assertSinksHoldLiveKeys(fmt.Sprintf("ci-%02d", i), h.sinkA, h.sinkB)
			}
		})
	}
}
