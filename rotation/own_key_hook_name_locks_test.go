package rotation

import (
	"testing"
	"time"

	"github.com/rotatord/rotatord/hooks"
)

// An own-key rotation's handler keeps selfRun for writing through its
// after_delivery hooks (up to 30 minutes), letting the install lock go.
// Another policy's handler that starts meanwhile takes its name's lock,
// then waits for selfRun: the name stays locked for as long as the hook
// runs, and the deleter's due deletion of that name (deleteDue: e.lock),
// or an on_failure hook's clearing (clearFailureHooks, which WaitHooks
// and StopHooks wait for), waits with it.
func TestOwnKeyAfterDeliveryHookDoesNotHoldAnotherNamesLock(t *testing.T) {
	sh := newSelfHarness(t, time.Hour)
	sh.api.add("ci-a", "ci-role")
	hh := newHungHook(t)
	e := sh.engine
	policies, _ := e.snapshotPolicies()
	for i := range policies {
		if policies[i].Self != nil {
			policies[i].Hooks = []Hook{{Event: hooks.AfterDelivery, Label: "exec#0", Run: hh.run}}
		}
	}
	if err := e.SetPolicies(policies); err != nil {
		t.Fatal(err)
	}

	self := passInBackground(e, []string{"_self"}, Options{Force: true})
	select {
	case <-hh.started:
	case <-time.After(10 * time.Second):
		t.Fatal("the own key's after_delivery hook did not start")
	}

	ci := passInBackground(e, []string{"ci"}, Options{})
	time.Sleep(300 * time.Millisecond) // ci-a's handler gets as far as it can

	got := make(chan func(), 1)
	go func() { got <- e.lock("ci-a") }()
	select {
	case unlock := <-got:
		unlock()
	case <-time.After(2 * time.Second):
		hh.release()
		(<-got)()
		t.Fatal("ci-a's name lock is held while the own key's after_delivery hook runs: the deleter's due deletion of ci-a waits for the hook")
	}
	hh.release()
	for _, c := range []<-chan []Outcome{self, ci} {
		select {
		case out := <-c:
			noFailures(t, out)
		case <-time.After(10 * time.Second):
			t.Fatal("a pass did not end after the hook")
		}
	}
}
