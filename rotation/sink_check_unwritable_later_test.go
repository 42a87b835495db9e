package rotation

import (
	"errors"
	"testing"
	"time"

	"github.com/rotatord/rotatord/secret"
	"github.com/rotatord/rotatord/sinks"
)

// A loss a check recorded (the name waits for a window, no sink could
// give the key back) whose sink another tool takes over before the window
// opens: a rotation would fail at that sink's probe at every backoff and
// run on_failure each time, as for a loss found unwritable at once. The
// loss is reported, not rotated for, until the sink is writable again.
func TestSinkCheckEarlierLossWhoseSinkBecameUnwritableDoesNotRotate(t *testing.T) {
	h := newHarness(t, 0)
	h.api.add("ci-runner", roleCI)
	h.policy.SinkCheck = time.Hour
	h.policy.MaxAge = 30 * 24 * time.Hour
	h.policy.Sinks = toSinks(h.sinkB)
	h.clock.now = time.Date(2026, 12, 11, 10, 0, 0, 0, time.UTC) // a Friday, in the window
	h.engine.SetPolicies([]Policy{h.policy})
	h.pass(Options{Force: true})
	key := h.sinkB.holds("ci-runner")
	h.policy.Windows = weekdays09to16()
	h.engine.SetPolicies([]Policy{h.policy})

	// Saturday: the sink emptied, nothing to copy from; the loss waits
	// for Monday's window.
	h.clock.now = time.Date(2026, 12, 12, 12, 0, 0, 0, time.UTC)
	h.sinkB.empty("ci-runner")
	h.pass(Options{})
	if !stillLost(h.policy, ptr(h.record("ci-runner"))) {
		t.Fatal("setup: the check recorded no loss")
	}
	// Sunday: another tool takes sink b over.
	h.clock.now = time.Date(2026, 12, 13, 12, 0, 0, 0, time.UTC)
	notOurs := errors.New("Secret default/ci-runner: Secret is not managed by rotatord")
	h.sinkB.put(sinks.Credential{Name: "ci-runner", KeyID: "EXOtheirs", Secret: secret.Value("theirs")})
	h.sinkB.mu.Lock()
	h.sinkB.failProbe, h.sinkB.failWrite = notOurs, sinks.NothingSent(notOurs)
	h.sinkB.mu.Unlock()
	h.pass(Options{})

	// Monday, in the window, over a day of passes.
	h.clock.now = time.Date(2026, 12, 14, 9, 30, 0, 0, time.UTC)
	for range 30 {
		for _, o := range h.pass(Options{}) {
			if o.Name == "ci-runner" && (o.Err != nil || o.Decision.Action == ActionRotate) {
				t.Errorf("at %s: outcome %+v (err %v): a loss no rotation can repair must not start one", h.clock.now, o.Decision, o.Err)
			}
		}
		h.clock.Add(20 * time.Minute)
	}
	if r := h.record("ci-runner"); r.Failures != 0 {
		t.Errorf("record counts %d failures (%s), want none", r.Failures, r.LastError)
	}
	if live := h.api.live("ci-runner"); len(live) != 1 || live[0] != key {
		t.Errorf("live keys %v, want %s alone", live, key)
	}
	if h.logs.FilterMessageSnippet("rotatord may not write there").Len() == 0 {
		t.Error("no warning that the sink cannot be repaired")
	}

	// The other tool gone: the next check finds the loss repairable, and
	// the name rotates for it.
	h.sinkB.mu.Lock()
	h.sinkB.failProbe, h.sinkB.failWrite = nil, nil
	h.sinkB.mu.Unlock()
	h.sinkB.empty("ci-runner")
	h.clock.now = time.Date(2026, 12, 15, 10, 0, 0, 0, time.UTC) // Tuesday, in the window
	h.pass(Options{})
	h.pass(Options{})
	if live, got := h.api.live("ci-runner"), h.sinkB.holds("ci-runner"); len(live) != 1 || live[0] == key || got != live[0] {
		t.Errorf("live keys %v, sink holds %q once writable again, want a new key delivered there", live, got)
	}
	h.assertNoSecretLeak()
}

func ptr[T any](v T) *T { return &v }

// Two sinks lost at once, one rotatord may not write: no sink can give the
// key back, and a rotation would fail at the unwritable sink's probe at
// every backoff. Both losses are reported; no rotation starts until the
// sink is writable again.
func TestSinkCheckLossBesideAnUnwritableLostSinkDoesNotRotateIntoItsProbe(t *testing.T) {
	h, key := sinkCheckHarness(t)
	notOurs := errors.New("Secret default/ci-runner: Secret is not managed by rotatord")
	h.sinkA.empty("ci-runner")
	h.sinkB.put(sinks.Credential{Name: "ci-runner", KeyID: "EXOtheirs", Secret: secret.Value("theirs")})
	h.sinkB.mu.Lock()
	h.sinkB.failProbe, h.sinkB.failWrite = notOurs, sinks.NothingSent(notOurs)
	h.sinkB.mu.Unlock()

	for range 3 {
		h.clock.Add(checkAgain)
		for _, o := range h.pass(Options{}) {
			if o.Name == "ci-runner" && (o.Err != nil || o.Decision.Action == ActionRotate) {
				t.Errorf("outcome %+v (err %v): a rotation that must fail at a probe", o.Decision, o.Err)
			}
		}
	}
	if r := h.record("ci-runner"); r.Failures != 0 {
		t.Errorf("record counts %d failures (%s), want none", r.Failures, r.LastError)
	}
	if h.rec.checks("lost") != 6 {
		t.Errorf("checks counted %v, want both losses counted at each of the 3 checks", h.rec.sinkChecks)
	}

	h.sinkB.mu.Lock()
	h.sinkB.failProbe, h.sinkB.failWrite = nil, nil
	h.sinkB.mu.Unlock()
	h.clock.Add(checkAgain)
	h.pass(Options{})
	live := h.api.live("ci-runner")
	if len(live) != 1 || live[0] == key || h.sinkA.holds("ci-runner") != live[0] || h.sinkB.holds("ci-runner") != live[0] {
		t.Errorf("live %v, sinks hold %q and %q once b is writable, want a new key in both", live,
			h.sinkA.holds("ci-runner"), h.sinkB.holds("ci-runner"))
	}
	h.assertNoSecretLeak()
}
