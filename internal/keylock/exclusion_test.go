package keylock

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// TestNeverTwoHoldersOfOneKey: many goroutines on few keys, entries created and
// deleted all the time: never two holders of one key, nothing left after.
func TestNeverTwoHoldersOfOneKey(t *testing.T) {
	var s Set
	const keys = 3
	var inside [keys]atomic.Int32
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 3000 {
				k := (g + i) % keys
				unlock := s.Lock(fmt.Sprint(k))
				if n := inside[k].Add(1); n != 1 {
					t.Errorf("key %d held by %d at once", k, n)
				}
				inside[k].Add(-1)
				unlock()
			}
		}()
	}
	wg.Wait()
	if n := s.held(); n != 0 {
		t.Errorf("%d entries left", n)
	}
}
