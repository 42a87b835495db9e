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

// TestEntriesGoWithTheirLastUser: a key nobody holds or waits for keeps no
// entry, and a waiter keeps the entry of a key its holder released.
func TestEntriesGoWithTheirLastUser(t *testing.T) {
	var s Set
	for i := range 1000 {
		s.Lock(string(rune('a'+i%26)) + "-" + string(rune(i)))()
	}
	if n := s.held(); n != 0 {
		t.Fatalf("%d entries after every key was released, want 0", n)
	}
	unlock := s.Lock("k")
	waiting := make(chan struct{})
	got := make(chan func())
	go func() {
		close(waiting)
		got <- s.Lock("k")
	}()
	<-waiting
	// The waiter may not have registered yet: either way the key is held.
	unlock()
	unlock2 := <-got
	if n := s.held(); n != 1 {
		t.Errorf("%d entries while k is held, want 1", n)
	}
	// The released entry is gone, and a new Lock excludes like before.
	unlock2()
	unlock3 := s.Lock("k")
	done := make(chan struct{})
	go func() { s.Lock("k")(); close(done) }()
	select {
	case <-done:
		t.Fatal("a Lock of a key held through a new entry did not wait")
	default:
	}
	unlock3()
	<-done
	if n := s.held(); n != 0 {
		t.Errorf("%d entries at the end, want 0", n)
	}
}
