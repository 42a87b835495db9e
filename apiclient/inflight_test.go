package apiclient

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient/exosim"
)

func TestInFlightHalvesGrowsAndBacksOffItsProbes(t *testing.T) {
	now := time.Unix(1000, 0)
	f := newInFlight(8, func() time.Time { return now })
	if got := f.allowed(); got != 8 {
		t.Fatalf("start %d, want the ceiling 8", got)
	}
	for range 5 { // one burst of refusals counts once
		f.pushedBack(true)
	}
	if got := f.allowed(); got != 4 {
		t.Fatalf("after a burst of 429s: %d, want 4", got)
	}
	for range 5 {
		now = now.Add(1100 * time.Millisecond)
		f.pushedBack(true)
	}
	if got := f.allowed(); got != 1 {
		t.Fatalf("after push backs every second: %d, want the floor 1", got)
	}
	// No growth before a probe interval without a push back.
	now = now.Add(firstProbe - time.Second)
	f.succeeded()
	if got := f.allowed(); got != 1 {
		t.Fatalf("%s after the last push back: %d, want 1", firstProbe-time.Second, got)
	}
	now = now.Add(time.Second)
	f.succeeded()
	if got := f.allowed(); got != 2 {
		t.Fatalf("a probe interval after the last push back: %d, want 2", got)
	}
	f.succeeded()
	if got := f.allowed(); got != 2 {
		t.Fatalf("one growth per probe interval: %d, want 2", got)
	}
	// A push back soon after the growth: the probe failed, back to 1,
	// and the next probe waits twice as long.
	now = now.Add(time.Second)
	f.pushedBack(true)
	if got := f.allowed(); got != 1 {
		t.Fatalf("after a failed probe: %d, want 1", got)
	}
	now = now.Add(firstProbe)
	f.succeeded()
	if got := f.allowed(); got != 1 {
		t.Fatalf("a first probe interval after a failed probe: %d, want 1 (the interval doubled)", got)
	}
	now = now.Add(firstProbe)
	f.succeeded()
	if got := f.allowed(); got != 2 {
		t.Fatalf("twice the first interval after a failed probe: %d, want 2", got)
	}
	// A growth that held a whole interval halves the interval again.
	now = now.Add(2 * firstProbe)
	f.succeeded()
	if got := f.allowed(); got != 3 {
		t.Fatalf("after a growth that held: %d, want 3", got)
	}
	now = now.Add(firstProbe)
	f.succeeded()
	if got := f.allowed(); got != 4 {
		t.Fatalf("the first interval after a growth that held: %d, want 4 (the interval halved)", got)
	}
	// A push back to a request that went out with room to spare is not
	// about the number in flight.
	now = now.Add(maxProbe)
	f.pushedBack(false)
	if got := f.allowed(); got != 4 {
		t.Fatalf("after a push back with room in the window: %d, want 4", got)
	}
	// Quiet for long: back to the ceiling, never above.
	for range 100 {
		now = now.Add(maxProbe)
		f.succeeded()
	}
	if got := f.allowed(); got != 8 {
		t.Fatalf("after a long quiet: %d, want the ceiling 8", got)
	}
}

func TestInFlightBlocksAtTheWindowAndWakes(t *testing.T) {
	now := time.Unix(1000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	f := newInFlight(2, clock)
	f.pushedBack(true) // window 1
	ctx := context.Background()
	if full, err := f.acquire(ctx); err != nil || !full {
		t.Fatalf("the only place of a window of 1: full %t, %v", full, err)
	}
	got := make(chan error, 1)
	acquire := func(ctx context.Context) {
		_, err := f.acquire(ctx)
		got <- err
	}
	go acquire(ctx)
	select {
	case err := <-got:
		t.Fatalf("a second request went out with a window of 1: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	f.release()
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	// A waiter whose context ends gives up.
	cctx, cancel := context.WithCancel(ctx)
	go acquire(cctx)
	cancel()
	if err := <-got; err == nil {
		t.Fatal("acquire returned nil for a cancelled context while the window was full")
	}
	// A growth wakes a waiter.
	go acquire(ctx)
	mu.Lock()
	now = now.Add(firstProbe)
	mu.Unlock()
	f.succeeded() // window 2
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a growth of the window did not wake the waiter")
	}
}

// TestClientFindsAServersInFlightLimit: with 4 requests in flight against
// a server that serves 2 at once and answers 429 to the others, the client
// settles at 2: a few refusals, not one in three.
func TestClientFindsAServersInFlightLimit(t *testing.T) {
	fx := newFixture(t, func(c *Config) { c.Concurrency = 4 })
	fx.client.sleep = sleepCtx // Retry-After waits for real
	// No probe above the limit during the test, however slow the machine.
	fx.client.inFlight.probe = time.Hour
	fx.srv.SetFault(exosim.OpGetAPIKey, exosim.Fault{Latency: 20 * time.Millisecond})
	fx.srv.SetFault(exosim.OpListAPIKeys, exosim.Fault{Latency: 20 * time.Millisecond})
	if err := fx.srv.SetLimits(exosim.Limits{MaxInFlight: 2, RetryAfter: 1}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 8 { // twice the requests in flight, as a pass does
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 25 {
				if _, err := fx.client.ListKeys(ctx); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	calls := fx.srv.Calls()[exosim.OpListAPIKeys]
	if _, got := fx.client.Limits(); got > 2 {
		t.Errorf("window %d after the pass, want at most the server's 2", got)
	}
	// 200 answers served; with a fixed 4 in flight about half the
	// attempts are refused.
	if r := calls.ByStatus[429]; r > 20 {
		t.Errorf("%d of %d answers were 429: the client did not settle under the server's limit", r, calls.Total)
	}
}

func TestNewRefusesConcurrencyBelowOne(t *testing.T) {
	_, err := New(Config{Endpoint: "https://api.example", Credentials: Credentials{Key: "EXOk", Secret: "s"}, Concurrency: -1})
	if err == nil || !strings.Contains(err.Error(), "concurrency -1") {
		t.Fatalf("New with concurrency -1: %v, want an error naming it", err)
	}
}
