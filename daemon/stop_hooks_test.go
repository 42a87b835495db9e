package daemon

import (
	"slices"
	"sync"
	"testing"
	"time"
)

// barrierStopper is an engine whose StopHooks returns only once every
// account's StopHooks has been called: a stop that waits for one account
// before it asks the next never gets there.
type barrierStopper struct {
	arrived *sync.WaitGroup
	all     chan struct{}
	stopped bool // StopHooks's answer: the hooks ended on their own
	gotWait time.Duration
}

func (b *barrierStopper) StopHooks(max time.Duration) bool {
	b.gotWait = max
	b.arrived.Done()
	select {
	case <-b.all:
	case <-time.After(20 * time.Second): // only a failing stop gets here
	}
	return b.stopped
}

// A stop gives the on_failure hooks of every account the same few seconds,
// at the same time: one account after the other, each waiting its 5 s,
// ten accounts with a hook still running took 50 s, and systemd's stop
// timeout (45 s by default) killed rotatord mid-shutdown.
func TestStopWaitsForEveryAccountsHooksAtOnce(t *testing.T) {
	var arrived sync.WaitGroup
	all := make(chan struct{})
	accounts := map[string]hookStopper{}
	stoppers := map[string]*barrierStopper{}
	for i, name := range []string{"a", "b", "c"} {
		arrived.Add(1)
		s := &barrierStopper{arrived: &arrived, all: all, stopped: i == 1}
		accounts[name], stoppers[name] = s, s
	}
	done := make(chan []string)
	go func() { done <- stopHooks(accounts, 5*time.Second) }()
	waited := make(chan struct{})
	go func() { arrived.Wait(); close(waited) }()
	select {
	case <-waited:
	case got := <-done:
		t.Fatalf("stopHooks returned %v before it asked every account", got)
	case <-time.After(10 * time.Second): // only a failing stop gets here
		t.Fatal("stopHooks asks one account after the other: the others wait for its hooks")
	}
	close(all)
	cancelled := <-done
	if want := []string{"a", "c"}; !slices.Equal(cancelled, want) {
		t.Fatalf("accounts whose hooks were cancelled: %v, want %v", cancelled, want)
	}
	for name, s := range stoppers {
		if s.gotWait != 5*time.Second {
			t.Errorf("account %s was given %v to let its hooks end, want 5s", name, s.gotWait)
		}
	}
}
