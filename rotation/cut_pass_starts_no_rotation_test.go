package rotation

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/hooks"
	"github.com/rotatord/rotatord/state"
)

// cutAPI is the fake API answering as the HTTP client does under a
// cancelled context: not sent, the context's error.
type cutAPI struct{ *fakeAPI }

func (a cutAPI) CreateKey(ctx context.Context, name, roleID string) (apiclient.CreatedKey, error) {
	if err := ctx.Err(); err != nil {
		return apiclient.CreatedKey{}, err
	}
	return a.fakeAPI.CreateKey(ctx, name, roleID)
}

func (a cutAPI) GetKey(ctx context.Context, id string) (apiclient.Key, error) {
	if err := ctx.Err(); err != nil {
		return apiclient.Key{}, err
	}
	return a.fakeAPI.GetKey(ctx, id)
}

func (a cutAPI) ListKeys(ctx context.Context) ([]apiclient.Key, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return a.fakeAPI.ListKeys(ctx)
}

func (a cutAPI) DeleteKey(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return a.fakeAPI.DeleteKey(ctx, id)
}

// blockFirstPut is a journal whose first write of one name's record
// (the handler's, just before it acts) waits until release is closed,
// after telling reached.
type blockFirstPut struct {
	state.Journal
	name     string
	once     *sync.Once
	reached  chan struct{}
	released chan struct{}
}

func (b blockFirstPut) Put(r state.Record) error {
	if r.Name == b.name {
		b.once.Do(func() {
			close(b.reached)
			<-b.released
		})
	}
	return b.Journal.Put(r)
}

// passCutAtFirstPut runs a pass of a new engine of h (over cutAPI) with
// opts, and cancels its context while the handler of name writes the
// name's record for the first time, before it acts: the cut comes while
// the handler decides. It returns the pass's outcomes.
func passCutAtFirstPut(t *testing.T, h *harness, name string, opts Options) []Outcome {
	t.Helper()
	return passCutAtFirstPutConcurrency(t, h, name, opts, 0)
}

// passCutAtFirstPutConcurrency is passCutAtFirstPut with the engine's
// Concurrency (0: the default).
func passCutAtFirstPutConcurrency(t *testing.T, h *harness, name string, opts Options, concurrency int) []Outcome {
	t.Helper()
	reached, released := make(chan struct{}), make(chan struct{})
	var j state.Journal = blockFirstPut{Journal: h.store, name: name, once: &sync.Once{}, reached: reached, released: released}
	h.engine = New(Config{API: cutAPI{h.api}, Store: j, Logger: zap.NewNop(), Recorder: h.rec, Now: h.clock.Now, Sleep: h.clock.Sleep, OwnKeyID: h.own,
		Concurrency: concurrency})
	if err := h.engine.SetPolicies([]Policy{h.policy}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan []Outcome, 1)
	go func() {
		out, _ := h.engine.Pass(ctx, nil, opts)
		done <- out
	}()
	select {
	case <-reached:
	case <-time.After(60 * time.Second):
		t.Fatalf("the handler never wrote %s's record", name)
	}
	cancel() // the stop comes while the handler decides
	close(released)
	select {
	case out := <-done:
		return out
	case <-time.After(60 * time.Second):
		t.Fatal("the pass did not return after the stop")
		return nil
	}
}

// A pass cut by a stop (once's SIGINT, a lost Lease, the end of the 30 s
// a stop allows: its context cancelled) starts no new dispatch, but a
// handler already under way when the cut came went on to start the
// rotation it had decided: an intent written, a create sent under a
// cancelled context. Against the real API and a Vault or Kubernetes sink
// that rotation can only fail (its probe, create or orphan search cut),
// and its failure is recorded as any other: a backoff, on_failure hooks
// owed, and an intent whose orphan search holds the name's next rotation
// for the create-settle time. The stop flag (Config.Stopping) covers run's
// stop; a cancelled context must be the same "stopping".
func TestCutPassStartsNoRotation(t *testing.T) {
	h := newHarness(t, time.Hour)
	old := h.api.add("ci-runner", "ci-role")
	var alerts atomic.Int32
	h.policy.Hooks = []Hook{{Event: hooks.OnFailure, Label: "exec#0", Run: func(context.Context, hooks.Event) error {
		alerts.Add(1)
		return nil
	}}}
	out := passCutAtFirstPut(t, h, "ci-runner", Options{Force: true})

	if live := h.api.live("ci-runner"); len(live) != 1 || live[0] != old {
		t.Errorf("keys of ci-runner after a pass cut before its rotation began: %v, want only %s", live, old)
	}
	h.engine.WaitHooks(10 * time.Second)
	r := h.record("ci-runner")
	if r.Rotation != nil || r.Failures != 0 || !r.FailureHookPending.IsZero() {
		t.Errorf("record after a pass cut before its rotation began: rotation %+v, failures %d (%q), on_failure owed %v",
			r.Rotation, r.Failures, r.LastError, !r.FailureHookPending.IsZero())
	}
	if n := alerts.Load(); n != 0 {
		t.Errorf("on_failure ran %d times for a rotation a stop cut before it began", n)
	}
	for _, o := range out {
		if o.Name == "ci-runner" && o.Decision.Action == ActionRotate && o.Err == nil {
			t.Errorf("outcome %+v: a rotation reported done after the pass was cut", o)
		}
	}
}
