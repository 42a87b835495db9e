package rotation

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/hooks"
)

// retryingDeleteAPI answers a deletion the way the API client does when
// the API refused the first attempt (a 503) and the retry waits its
// backoff: the retry goes out unless the wait is interrupted
// (apiclient.WithInterrupt), and then the refusal stands.
type retryingDeleteAPI struct {
	*fakeAPI
}

func (r *retryingDeleteAPI) DeleteKey(ctx context.Context, id string) error {
	if ch := apiclient.InterruptOf(ctx); ch != nil {
		select {
		case <-ch:
			return &apiclient.Error{Op: apiclient.OpDeleteKey, Kind: apiclient.KindUnavailable, Status: 503, Message: "unavailable", Attempts: 1}
		default:
		}
	}
	return r.fakeAPI.DeleteKey(ctx, id)
}

// TestAReloadOverDuringTheConsumerCheckDoesNotInterruptTheDeletionsRetries:
// the deleter runs the consumer check (before_delete) without the install
// lock, so a reload that leaves the policy as it was goes through during
// it, and the deletion goes on under it. That reload is over when the
// deletion's requests go out: their retries (a 503, a Retry-After) must
// wait and go out, not give up at once as if a reload were starting. The
// interrupt of the reload that had ended made every retry of the deletion
// fail at once: the old key stayed, the name failed (its on_failure hooks
// ran) and the minutes-long check had to run again.
func TestAReloadOverDuringTheConsumerCheckDoesNotInterruptTheDeletionsRetries(t *testing.T) {
	h := newHarness(t, time.Hour)
	old := h.api.add("ci-a", "ci-role")
	h.policy.Hooks = []Hook{{Event: hooks.BeforeDelete, Label: "exec#0", Run: func(ctx context.Context, ev hooks.Event) error {
		// A reload of the same policy file lands during the check.
		if err := h.engine.SetPolicies([]Policy{h.policy}); err != nil {
			t.Errorf("reload: %v", err)
		}
		return nil
	}}}
	h.policy.Fingerprint = "v1"
	h.newEngine()
	h.pass(Options{Force: true})
	api := &retryingDeleteAPI{fakeAPI: h.api}
	h.engine = New(Config{API: api, Store: h.store, Logger: h.engine.log, Recorder: h.rec, Now: h.clock.Now, Sleep: h.clock.Sleep, OwnKeyID: h.own})
	if err := h.engine.SetPolicies([]Policy{h.policy}); err != nil {
		t.Fatal(err)
	}
	h.clock.Add(2 * time.Hour) // the grace period is over
	out := h.engine.DeleteDue(context.Background())
	if len(out) == 1 && out[0].Decision.Reason == ReasonConfirming {
		// This engine confirmed the new key a moment ago: its delay.
		h.clock.Add(time.Minute)
		out = h.engine.DeleteDue(context.Background())
	}
	if slices.Contains(h.api.live("ci-a"), old) {
		t.Fatalf("old key %s alive after a consumer check that passed, outlived by a reload of the same policies that was over: %+v", old, out)
	}
	if r := h.record("ci-a"); r.Failures != 0 {
		t.Errorf("ci-a: %d failures (%s), want none", r.Failures, r.LastError)
	}
}
