package apiclient

import (
	"context"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient/exosim"
)

// TestWaiterHandedARefusedSlotHonoursRetryAfter (from the review of
// 7621c12): a request that waits for the only slot, and gets it from a
// request the API refused (429, Retry-After 5 s), must wait the
// Retry-After before it goes out: "A Retry-After holds every request, not
// only the one refused" (adaptive.go).
//
// do() used to release the slot, which hands it to the waiter, and yield
// (runtime.Gosched) before it recorded the push back: the waiter ran
// first, found no pause in force, and went out at once. With one P the
// order is deterministic (but for the scheduler's 1-in-61 look at the
// global queue first, hence the rounds).
func TestWaiterHandedARefusedSlotHonoursRetryAfter(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	type who struct{}
	for round := range 5 {
		base := http.DefaultTransport.(*http.Transport).Clone()
		gate := make(chan struct{})
		var first atomic.Bool
		f := newFixture(t, func(c *Config) {
			c.Concurrency = 1
			c.Transport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
				if first.CompareAndSwap(false, true) {
					<-gate // hold A in flight until B waits for its slot
				}
				return base.RoundTrip(r)
			})
		})
		f.srv.SetFault(exosim.OpListAPIKeys, exosim.Fault{RateLimitNext: 1, RetryAfter: 5})
		var (
			mu     sync.Mutex
			pauseB []time.Duration
		)
		f.client.sleep = func(ctx context.Context, d time.Duration) error {
			if ctx.Value(who{}) == "B" {
				mu.Lock()
				pauseB = append(pauseB, d)
				mu.Unlock()
			}
			return ctx.Err() // no real wait
		}
		errs := make(chan error, 2)
		ctxA := context.WithValue(context.Background(), who{}, "A")
		ctxB := context.WithValue(context.Background(), who{}, "B")
		go func() { _, err := f.client.ListKeys(ctxA); errs <- err }()
		for !first.Load() {
			time.Sleep(time.Millisecond)
		}
		go func() { _, err := f.client.ListKeys(ctxB); errs <- err }()
		waitWaiters(t, f.client.inFlight, 1)
		close(gate)
		for range 2 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		base.CloseIdleConnections()
		mu.Lock()
		got := append([]time.Duration(nil), pauseB...)
		mu.Unlock()
		if len(got) == 0 {
			t.Fatalf("round %d: B went out on the slot of a request refused with Retry-After 5s without waiting for it", round)
		}
	}
}
