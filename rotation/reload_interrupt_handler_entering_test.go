package rotation

import (
	"context"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient"
)

// TestAReloadInterruptsAHandlerThatEnteredAsItBegan: a handler takes the
// install lock for reading (enterHandler), then its context's interrupt
// (reloadInterrupt). A reload that began between the two, when no
// handler had made an interrupt yet, closed none; the handler then made
// a new one that nothing closed, and the reload waited for its API
// requests' Retry-After waits (minutes) again. The handler must get an
// interrupt that is closed already.
func TestAReloadInterruptsAHandlerThatEnteredAsItBegan(t *testing.T) {
	h := newHarness(t, time.Hour)
	e := h.engine
	if !e.enterHandler() { // the handler is in
		t.Fatal("no reload yet: want the handler in")
	}
	unlocked := make(chan func(), 1)
	go func() { unlocked <- e.LockInstall() }() // a reload begins
	// Once the reload waits for the write lock, no reader gets in: it is
	// past the point where it interrupts the handlers.
	for e.install.TryRLock() {
		e.install.RUnlock()
		time.Sleep(time.Millisecond)
	}
	ctx := e.reloadInterrupt(context.Background()) // the handler goes on
	interrupted := false
	select {
	case <-apiclient.InterruptOf(ctx):
		interrupted = true
	default:
	}
	e.install.RUnlock() // the handler ends
	(<-unlocked)()
	if !interrupted {
		t.Errorf("a handler that entered as a reload began: its API waits are not interrupted, the reload waits them out")
	}
	// The reload is over: the next handler's waits are not interrupted.
	if !e.enterHandler() {
		t.Fatal("reload over: want the handler in")
	}
	defer e.install.RUnlock()
	select {
	case <-apiclient.InterruptOf(e.reloadInterrupt(context.Background())):
		t.Errorf("a handler after the reload is over: its API waits are interrupted")
	default:
	}
}
