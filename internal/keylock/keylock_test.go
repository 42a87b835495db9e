package keylock

import (
	"sync"
	"testing"
)

func TestSameKeyIsExclusiveOtherKeysAreNot(t *testing.T) {
	var s Set
	unlockA := s.Lock("a")
	// Another key locks at once while "a" is held.
	s.Lock("b")()

	got := make(chan struct{})
	go func() {
		s.Lock("a")()
		close(got)
	}()
	select {
	case <-got:
		t.Fatal("a second Lock of the same key did not wait")
	default:
	}
	unlockA()
	<-got
}

func TestCountsUnderContention(t *testing.T) {
	var (
		s    Set
		wg   sync.WaitGroup
		x, y int
		n    = map[string]*int{"x": &x, "y": &y} // read-only map: each counter is guarded by its key's lock
	)
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := []string{"x", "y"}[i%2]
			unlock := s.Lock(key)
			*n[key]++ // the race detector reports this if Lock does not exclude
			unlock()
		}()
	}
	wg.Wait()
	if x != 100 || y != 100 {
		t.Errorf("counts = %d, %d, want 100 each", x, y)
	}
}
