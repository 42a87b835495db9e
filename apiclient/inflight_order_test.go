package apiclient

import (
	"context"
	"testing"
	"time"
)

// waitWaiters waits until f has n waiters.
func waitWaiters(t *testing.T, f *inFlight, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		f.mu.Lock()
		got := len(f.waiters)
		f.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d waiters, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestInFlightHandsSlotsOverInOrder: a freed slot goes to the oldest
// waiter, and a waiter that gives up, even as a slot reaches it, leaves
// nothing counted and holds nobody back.
func TestInFlightHandsSlotsOverInOrder(t *testing.T) {
	f := newInFlight(1, time.Now)
	ctx := context.Background()
	if _, err := f.acquire(ctx); err != nil {
		t.Fatal(err)
	}
	order := make(chan int, 3)
	for i := range 3 {
		go func() {
			if _, err := f.acquire(ctx); err != nil {
				t.Error(err)
			}
			order <- i
		}()
		waitWaiters(t, f, i+1)
	}
	for want := range 3 {
		if !f.release() {
			t.Fatalf("release %d says its slot went to nobody, with %d waiting", want, 3-want)
		}
		select {
		case got := <-order:
			if got != want {
				t.Fatalf("slot %d went to waiter %d, want %d (the oldest)", want, got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("a released slot reached no waiter (%d)", want)
		}
	}
	// One slot is held (by the last waiter). A waiter that gives up
	// leaves the queue.
	cctx, cancel := context.WithCancel(ctx)
	gaveUp := make(chan error, 1)
	go func() { _, err := f.acquire(cctx); gaveUp <- err }()
	waitWaiters(t, f, 1)
	cancel()
	if err := <-gaveUp; err == nil {
		t.Fatal("a cancelled waiter got a slot of a full window")
	}
	waitWaiters(t, f, 0)
	if f.release() {
		t.Fatal("a release with nobody waiting says it handed its slot over")
	}
	if full, err := f.acquire(ctx); err != nil || !full {
		t.Fatalf("after every slot came back: full %t, %v; want the one slot", full, err)
	}
	// A slot handed over as its waiter's context ends is passed on, not
	// lost: the waiter below is handed the slot and cancelled in the
	// same critical section.
	cctx, cancel = context.WithCancel(ctx)
	go func() { _, err := f.acquire(cctx); gaveUp <- err }()
	waitWaiters(t, f, 1)
	next := make(chan error, 1)
	go func() { _, err := f.acquire(ctx); next <- err }()
	waitWaiters(t, f, 2)
	f.mu.Lock()
	f.n--
	f.handOver() // the first waiter has its slot...
	cancel()     // ...and its context ends before it runs
	f.mu.Unlock()
	if err := <-gaveUp; err != nil {
		// It may have seen its slot first: then it holds it.
		t.Logf("the first waiter gave up: %v", err)
		if err := <-next; err != nil {
			t.Fatalf("the slot the first waiter gave back did not reach the next: %v", err)
		}
	} else {
		f.release()
		if err := <-next; err != nil {
			t.Fatal(err)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n != 1 || len(f.waiters) != 0 {
		t.Fatalf("%d in flight and %d waiters at the end, want 1 and 0", f.n, len(f.waiters))
	}
}
