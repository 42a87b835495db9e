package rotation

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/rotatord/rotatord/hooks"
)

// hungHook is a hook that hangs: each run says so on started (when the
// last word was read) and answers only once release is called, or its
// context ends. Released, it answers at once.
type hungHook struct {
	started chan struct{}
	finish  chan struct{}
	once    sync.Once
}

func newHungHook(t *testing.T) *hungHook {
	hh := &hungHook{started: make(chan struct{}, 1), finish: make(chan struct{})}
	t.Cleanup(hh.release) // a test that fails early leaves no pass hanging
	return hh
}

func (hh *hungHook) run(ctx context.Context, _ hooks.Event) error {
	select {
	case hh.started <- struct{}{}:
	default:
	}
	select {
	case <-hh.finish:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// release lets the hook answer, now and from then on.
func (hh *hungHook) release() { hh.once.Do(func() { close(hh.finish) }) }

// passInBackground runs a pass of e (of the policies named; nil: all)
// and returns where its outcomes come.
func passInBackground(e *Engine, policies []string, opts Options) <-chan []Outcome {
	c := make(chan []Outcome, 1)
	go func() {
		out, _ := e.Pass(context.Background(), policies, opts)
		c <- out
	}()
	return c
}

// reloadWithin requires a reload of e with policies to end within 10 s
// while hh hangs; if not, it lets hh answer, waits for done (the round
// hh runs in) and fails, saying what the reload waited for.
func reloadWithin(t *testing.T, e *Engine, policies []Policy, hh *hungHook, done <-chan []Outcome, what string) {
	t.Helper()
	reloaded := make(chan error, 1)
	go func() { reloaded <- e.SetPolicies(policies) }()
	select {
	case err := <-reloaded:
		if err != nil {
			t.Fatalf("reload: %v", err)
		}
	case <-time.After(10 * time.Second):
		hh.release()
		<-done
		t.Fatalf("a reload waited for %s (hung for 10 s)", what)
	}
}

// passOverAReload runs a pass of h's engine with opts in which hh hangs,
// requires a reload (of the same policies) to go through meanwhile
// (reloadWithin), lets hh answer, and requires the pass to fail nowhere.
// It returns the pass's outcomes.
func passOverAReload(t *testing.T, h *harness, hh *hungHook, opts Options, what string) []Outcome {
	t.Helper()
	passed := passInBackground(h.engine, nil, opts)
	<-hh.started
	reloadWithin(t, h.engine, []Policy{h.policy}, hh, passed, what)
	hh.release() // from now on the hook answers at once
	out := <-passed
	noFailures(t, out)
	return out
}
