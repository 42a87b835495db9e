package rotation

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestConcurrentPassesShareNothing: passes, deletions and journal
// writes at once on one engine (run with -race); every pass must report
// the quiet names as fresh, with their own key.
func TestConcurrentPassesShareNothing(t *testing.T) {
	h := serialQuietHarness(t, 12)
	h.engine.Reconfigure(h.api, h.own, 4)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				opts := Options{IgnoreBackoff: g%2 == 1}
				out, err := h.engine.Pass(context.Background(), nil, opts)
				if err != nil {
					t.Error(err)
					return
				}
				for _, o := range out {
					if o.Err != nil {
						t.Errorf("%s: %v", o.Name, o.Err)
					}
					if o.Name != "rotatord-admin" && o.Decision.Reason != ReasonFresh && o.Decision.Reason != ReasonConcurrent {
						t.Errorf("%s: %v", o.Name, o.Decision)
					}
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			h.engine.DeleteDue(context.Background())
			r := h.record("ci-03")
			_ = h.store.Put(r)
		}
	}()
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()
}
