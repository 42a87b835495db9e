package daemon

import (
	"context"
	"testing"

	"go.uber.org/goleak"

	"github.com/rotatord/rotatord/config"
)

// TestAbandonedReloadLeavesTheEnginesAlone: a reload the stop abandoned
// before it reached the engines (it was reading the policy file or the
// credentials, or repairing an own key's store, when the stop began)
// went on to lock the first one all the same: LockInstall announces a
// reload (the handlers in flight give up their API waits, their names
// failing; those that start next skip their names) and waits for the
// handlers, for a reload already answered "not reloaded". With the
// stop's ctx ended, lockInstall must not touch the engine: no goroutine
// left waiting for its lock.
func TestAbandonedReloadLeavesTheEnginesAlone(t *testing.T) {
	h := newEnv(t)
	e := h.d.account(config.DefaultAccount).engine
	// The engine is held (as by a handler in flight): a LockInstall
	// begun now waits until the test lets it go.
	release := e.LockInstall()
	defer release()
	before := goleak.IgnoreCurrent()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the stop began
	if unlock, ok := lockInstall(ctx, e); ok {
		unlock()
		t.Fatal("lockInstall with the stop's ctx ended locked the engine")
	}
	if err := goleak.Find(before); err != nil {
		t.Errorf("lockInstall with the stop's ctx ended left a goroutine waiting for the engine's lock: %v", err)
	}
}
