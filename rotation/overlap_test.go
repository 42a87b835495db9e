package rotation

import (
	"context"
	"sync"
	"testing"

	"github.com/rotatord/rotatord/apiclient"
)

// gatedAPI holds the first create until release is closed, and reports
// each listing on listed.
type gatedAPI struct {
	*fakeAPI
	once     sync.Once
	creating chan struct{} // closed when the first create starts
	release  chan struct{}
	listed   chan struct{}
}

func (g *gatedAPI) ListKeys(ctx context.Context) ([]apiclient.Key, error) {
	keys, err := g.fakeAPI.ListKeys(ctx)
	g.listed <- struct{}{}
	return keys, err
}

func (g *gatedAPI) CreateKey(ctx context.Context, name, roleID string) (apiclient.CreatedKey, error) {
	g.once.Do(func() {
		close(g.creating)
		<-g.release
	})
	return g.fakeAPI.CreateKey(ctx, name, roleID)
}

// TestStaleListingDoesNotRotateAgain: a pass that listed the keys while
// another pass was rotating the same name (the daemon's pass at start and
// its first cron tick) used to act on that stale listing once it got the
// name: with grace 0 the old key it listed was gone, so it rotated again,
// and the key the first pass had just delivered stayed alive with no sink
// holding it.
func TestStaleListingDoesNotRotateAgain(t *testing.T) {
	h := newHarness(t, 0)
	old := h.api.add("ci-runner", roleCI)
	g := &gatedAPI{fakeAPI: h.api, creating: make(chan struct{}), release: make(chan struct{}), listed: make(chan struct{}, 4)}
	e := New(Config{API: g, Store: h.store, Now: h.clock.Now, Sleep: h.clock.Sleep, OwnKeyID: h.own})
	e.SetPolicies([]Policy{h.policy})

	var wg sync.WaitGroup
	outs := make([][]Outcome, 2)
	wg.Add(2)
	go func() {
		defer wg.Done()
		outs[0], _ = e.Pass(context.Background(), nil, Options{Force: true})
	}()
	<-g.listed
	<-g.creating
	go func() {
		defer wg.Done()
		outs[1], _ = e.Pass(context.Background(), nil, Options{})
	}()
	<-g.listed // the second pass has seen only the old key
	close(g.release)
	wg.Wait()

	live := h.api.live("ci-runner")
	if len(live) != 1 || live[0] == old {
		t.Fatalf("live keys %v (old %s): want one new key", live, old)
	}
	for _, s := range []*memSink{h.sinkA, h.sinkB} {
		if got := s.holds("ci-runner"); got != live[0] {
			t.Errorf("sink %s holds %s, the live key is %s", s.label, got, live[0])
		}
	}
	if n := len(h.api.issued); n != 1 {
		t.Errorf("%d keys created, want 1", n)
	}
}
