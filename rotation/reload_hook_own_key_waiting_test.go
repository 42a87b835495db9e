package rotation

import (
	"testing"
	"time"

	"github.com/rotatord/rotatord/hooks"
)

// A pass's handler lets the install lock go around its after_delivery
// hooks, but keeps selfRun (for reading: no own-key rotation in the
// middle of its own). An own-key handler of another pass (the own-key
// policy runs on its own schedule) that enters meanwhile takes the
// install lock for reading and waits for selfRun. A reload then waits for
// that handler, and the first handler, its hook over, waits for the
// install lock behind the reload: each waits for the next, for good. The
// reload never went through, and every handler after it skipped its name
// (ReasonReloaded) from then on.
func TestReloadDuringAPassAfterDeliveryHookWithAnOwnKeyHandlerWaiting(t *testing.T) {
	sh := newSelfHarness(t, time.Hour)
	sh.api.add("ci-a", "ci-role")
	hh := newHungHook(t)
	sh.policy.Hooks = []Hook{{Event: hooks.AfterDelivery, Label: "exec#0", Run: hh.run}}
	sh.restart(sh.own)
	e := sh.engine

	passA := passInBackground(e, []string{"ci"}, Options{Force: true})
	<-hh.started

	// The own-key policy's pass, while ci-a's hook runs.
	passB := passInBackground(e, []string{"_self"}, Options{})
	// Give its handler the time to get as far as it can.
	for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(time.Millisecond) {
		if !e.install.TryLock() {
			break // a handler holds the install lock for reading
		}
		e.install.Unlock()
	}

	policies, _ := e.snapshotPolicies()
	reloaded := make(chan error, 1)
	go func() { reloaded <- e.SetPolicies(policies) }()
	// The reload waits for the lock (or went through).
	for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(time.Millisecond) {
		select {
		case <-reloaded:
			reloaded <- nil
		default:
		}
		if e.reloadPending.Load() > 0 && !e.install.TryRLock() {
			break
		}
		if e.reloadPending.Load() > 0 {
			e.install.RUnlock()
		}
	}
	hh.release()

	timeout := time.After(10 * time.Second)
	for _, c := range []struct {
		what string
		done func() bool
	}{
		{"the reload", func() bool {
			select {
			case err := <-reloaded:
				if err != nil {
					t.Errorf("reload: %v", err)
				}
				return true
			case <-timeout:
				return false
			}
		}},
		{"the ci pass whose after_delivery hook outlived the reload", func() bool {
			select {
			case out := <-passA:
				noFailures(t, out)
				return true
			case <-timeout:
				return false
			}
		}},
		{"the own-key pass", func() bool {
			select {
			case out := <-passB:
				noFailures(t, out)
				return true
			case <-timeout:
				return false
			}
		}},
	} {
		if !c.done() {
			t.Fatalf("deadlock: %s did not end within 10 s of the hook's end", c.what)
		}
	}
}
