package rotation

import (
	"context"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient"
)

// waitingCreateAPI answers a create the way the API client does while it
// waits out a server's Retry-After: not before the wait ends. Only the
// interrupt of the handler's context (apiclient.WithInterrupt) ends it.
type waitingCreateAPI struct {
	*fakeAPI
	waiting chan struct{}
}

func (w *waitingCreateAPI) CreateKey(ctx context.Context, name, roleID string) (apiclient.CreatedKey, error) {
	w.waiting <- struct{}{}
	<-apiclient.InterruptOf(ctx) // nil: never
	return apiclient.CreatedKey{}, &apiclient.Error{Op: apiclient.OpCreateKey, Kind: apiclient.KindRateLimited, Status: 429,
		Message: "not sent: interrupted while waiting out the API's Retry-After"}
}

// TestReloadInterruptsAHandlerWaitingOutARetryAfter: a reload (SIGHUP)
// waits for the handlers in flight, and a handler whose create waited out
// a server's Retry-After (up to 2 minutes before each of 5 attempts) held
// it that long: with the real binary and Retry-After 120 on every create,
// no reload after minutes. A reload interrupts the waits of the requests
// not yet sent: the handler fails its name (the intent stays for the
// orphan search), and the reload goes on.
func TestReloadInterruptsAHandlerWaitingOutARetryAfter(t *testing.T) {
	h := newHarness(t, time.Hour)
	h.api.add("ci-a", "ci-role")
	api := &waitingCreateAPI{fakeAPI: h.api, waiting: make(chan struct{}, 1)}
	h.engine = New(Config{API: api, Store: h.store, Logger: h.engine.log, Recorder: h.rec, Now: h.clock.Now, Sleep: h.clock.Sleep, OwnKeyID: h.own})
	if err := h.engine.SetPolicies([]Policy{h.policy}); err != nil {
		t.Fatal(err)
	}
	passed := make(chan []Outcome, 1)
	go func() {
		out, _ := h.engine.Pass(context.Background(), nil, Options{Force: true})
		passed <- out
	}()
	<-api.waiting
	if err := h.engine.SetPolicies([]Policy{h.policy}); err != nil {
		t.Fatalf("reload: %v", err)
	}
	for _, o := range <-passed {
		if o.Name == "ci-a" && o.Err == nil {
			t.Errorf("ci-a: %+v, want its create to fail", o)
		}
	}
}
