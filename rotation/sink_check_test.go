package rotation

import (
	"errors"
	"testing"
	"time"

	"github.com/rotatord/rotatord/secret"
	"github.com/rotatord/rotatord/sinks"
)

// sinkCheckHarness: ci-runner rotated once by a forced pass, both sinks
// holding its key, and a policy that checks its sinks every hour.
func sinkCheckHarness(t *testing.T) (*harness, string) {
	t.Helper()
	h := newHarness(t, 0)
	h.api.add("ci-runner", roleCI)
	h.policy.SinkCheck = time.Hour
	h.engine.SetPolicies([]Policy{h.policy})
	h.pass(Options{Force: true})
	live := h.api.live("ci-runner")
	if len(live) != 1 || h.sinkA.holds("ci-runner") != live[0] || h.sinkB.holds("ci-runner") != live[0] {
		t.Fatalf("setup: live %v, sinks hold %q and %q", live, h.sinkA.holds("ci-runner"), h.sinkB.holds("ci-runner"))
	}
	return h, live[0]
}

// checkAgain is past the harness's sink_check: a rotation's delivery,
// which reads every sink back, counts as a check.
const checkAgain = time.Hour + time.Minute

func (s *memSink) empty(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.held, name)
}

// put makes s hold c, as someone other than rotatord would write it.
func (s *memSink) put(c sinks.Credential) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.held[c.Name] = c
}

// fingerprintedRotation: ci-runner rotated by a forced pass into a
// fingerprinting sink a and sink b, under an hourly sink check.
func fingerprintedRotation(t *testing.T) (*harness, string) {
	t.Helper()
	h := newHarness(t, 0)
	h.api.add("ci-runner", roleCI)
	h.fingerprintSinkA()
	h.engine.SetPolicies([]Policy{h.policy})
	h.pass(Options{Force: true})
	return h, h.api.live("ci-runner")[0]
}

// cred is the credential s holds for name, secret included.
func (s *memSink) cred(name string) sinks.Credential {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held[name]
}

// fingerprintSinkA makes sink a prove what it holds by fingerprints (a
// file sink's way) and turns the hourly sink check on; SetPolicies is
// the caller's.
func (h *harness) fingerprintSinkA() {
	h.policy.Sinks = []sinks.Sink{fpSink{h.sinkA}, h.sinkB}
	h.policy.SinkCheck = time.Hour
}

func (r *countingRecorder) checks(result string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sinkChecks[result]
}

func TestSinkCheckCopiesTheKeyBackToAnEmptiedSink(t *testing.T) {
	h, key := sinkCheckHarness(t)
	h.sinkA.empty("ci-runner")
	h.clock.Add(checkAgain)
	h.pass(Options{})
	if got := h.sinkA.holds("ci-runner"); got != key {
		t.Errorf("emptied sink holds %q after the check, want the current key %s copied back", got, key)
	}
	if live := h.api.live("ci-runner"); len(live) != 1 || live[0] != key {
		t.Errorf("live keys %v: a sink that another can refill costs no new key", live)
	}
	if d, ok := h.record("ci-runner").Delivered.Get(sinkID(h.sinkA, "ci-runner")); !ok || d.KeyID != key {
		t.Errorf("delivery to the refilled sink recorded as %+v, %v", d, ok)
	}
	if h.rec.checks("lost") != 1 || h.rec.checks("held") != 1 {
		t.Errorf("checks counted %v, want one lost and one held", h.rec.sinkChecks)
	}
	if h.logs.FilterMessage("a sink no longer holds the current key").Len() != 1 {
		t.Error("no warning for the emptied sink")
	}
	h.assertNoSecretLeak()
}

func TestSinkCheckRotatesWhenNoSinkCanGiveTheKeyBack(t *testing.T) {
	h, key := sinkCheckHarness(t)
	h.sinkA.empty("ci-runner")
	h.sinkB.empty("ci-runner")
	h.clock.Add(checkAgain)
	out := h.pass(Options{})
	live := h.api.live("ci-runner")
	if len(live) != 1 || live[0] == key {
		t.Fatalf("live keys %v, want one new key replacing %s", live, key)
	}
	if h.sinkA.holds("ci-runner") != live[0] || h.sinkB.holds("ci-runner") != live[0] {
		t.Errorf("sinks hold %q and %q, want the new key %s", h.sinkA.holds("ci-runner"), h.sinkB.holds("ci-runner"), live[0])
	}
	for _, o := range out {
		if o.Name == "ci-runner" && o.Decision.Reason != ReasonSinkLost {
			t.Errorf("outcome %+v, want reason %q", o.Decision, ReasonSinkLost)
		}
	}
	// The new key is in every sink: the next passes leave it alone.
	h.clock.Add(2 * time.Hour)
	h.pass(Options{})
	if again := h.api.live("ci-runner"); len(again) != 1 || again[0] != live[0] {
		t.Errorf("live keys %v after a later check, want %s kept", again, live[0])
	}
	h.assertNoSecretLeak()
}

func TestSinkCheckRepairsASinkHoldingAnotherKey(t *testing.T) {
	h, key := sinkCheckHarness(t)
	h.sinkB.put(sinks.Credential{Name: "ci-runner", KeyID: "EXOforged", Secret: secret.Value("forged")})
	h.clock.Add(checkAgain)
	h.pass(Options{})
	if got := h.sinkB.holds("ci-runner"); got != key {
		t.Errorf("sink holds %q after the check, want the current key %s", got, key)
	}
	if live := h.api.live("ci-runner"); len(live) != 1 || live[0] != key {
		t.Errorf("live keys %v, want %s alone", live, key)
	}
}

func TestSinkCheckWaitsForItsInterval(t *testing.T) {
	h, key := sinkCheckHarness(t)
	h.clock.Add(checkAgain)
	h.pass(Options{}) // all held
	h.sinkA.empty("ci-runner")
	h.clock.Add(30 * time.Minute)
	h.pass(Options{})
	if got := h.sinkA.holds("ci-runner"); got != "" {
		t.Fatalf("sink refilled with %q half an hour after the last check, want the next check to wait for sink_check", got)
	}
	h.clock.Add(31 * time.Minute)
	h.pass(Options{})
	if got := h.sinkA.holds("ci-runner"); got != key {
		t.Errorf("sink holds %q once sink_check has passed, want %s", got, key)
	}
}

func TestSinkCheckLeavesASinkItCannotReadAlone(t *testing.T) {
	h, key := sinkCheckHarness(t)
	h.sinkA.mu.Lock()
	h.sinkA.failRead = errors.New("connection refused")
	h.sinkA.mu.Unlock()
	h.clock.Add(checkAgain)
	h.pass(Options{})
	if live := h.api.live("ci-runner"); len(live) != 1 || live[0] != key {
		t.Errorf("live keys %v: a sink that cannot be read is not a lost key", live)
	}
	if d, ok := h.record("ci-runner").Delivered.Get(sinkID(h.sinkA, "ci-runner")); !ok || d.KeyID != key {
		t.Errorf("delivery to the unreadable sink became %+v, %v", d, ok)
	}
	if h.rec.checks("unknown") != 1 || h.rec.checks("lost") != 0 {
		t.Errorf("checks counted %v, want one unknown and no loss", h.rec.sinkChecks)
	}
	if h.sinkA.writes != 1 {
		t.Errorf("unreadable sink written %d times, want once (the forced rotation)", h.sinkA.writes)
	}
}

func TestSinkCheckOffReadsNoSink(t *testing.T) {
	h, _ := sinkCheckHarness(t)
	h.policy.SinkCheck = 0
	h.engine.SetPolicies([]Policy{h.policy})
	h.sinkA.empty("ci-runner")
	h.clock.Add(2 * time.Hour)
	h.pass(Options{})
	if got := h.sinkA.holds("ci-runner"); got != "" {
		t.Errorf("sink refilled with %q without sink_check", got)
	}
	if n := h.rec.checks("held") + h.rec.checks("lost") + h.rec.checks("unknown"); n != 0 {
		t.Errorf("%d sink checks without sink_check", n)
	}
}

// lossBeforeTheWindow: on a Monday at 08:40, before the policy's window
// (weekdays 09:00-16:00), both sinks are emptied and a pass finds the loss
// but may not rotate yet.
func lossBeforeTheWindow(t *testing.T) (*harness, string) {
	t.Helper()
	h, key := sinkCheckHarness(t)
	h.policy.Windows = weekdays09to16()
	h.policy.MaxAge = 30 * 24 * time.Hour // not due by age on the days below
	h.engine.SetPolicies([]Policy{h.policy})
	h.clock.now = time.Date(2026, 12, 14, 8, 40, 0, 0, time.UTC)
	h.sinkA.empty("ci-runner")
	h.sinkB.empty("ci-runner")
	h.pass(Options{})
	if live := h.api.live("ci-runner"); len(live) != 1 || live[0] != key {
		t.Fatalf("live keys %v: rotated outside the window", live)
	}
	return h, key
}

// TestSinkCheckRotationWaitsForTheWindow: a loss found outside the
// policy's windows rotates when the next one opens, though the check is
// not due again by then.
func TestSinkCheckRotationWaitsForTheWindow(t *testing.T) {
	h, key := lossBeforeTheWindow(t)
	h.clock.now = time.Date(2026, 12, 14, 9, 1, 0, 0, time.UTC)
	h.pass(Options{})
	live := h.api.live("ci-runner")
	if len(live) != 1 || live[0] == key || h.sinkA.holds("ci-runner") != live[0] {
		t.Errorf("live keys %v, sink a holds %q: want a new key delivered once the window opened", live, h.sinkA.holds("ci-runner"))
	}
}

// TestSinkCheckOpaqueSinkByFingerprint: a sink that cannot give its
// secret back (a free-form template) is checked by its fingerprint.
func TestSinkCheckOpaqueSinkByFingerprint(t *testing.T) {
	h := newHarness(t, 0)
	h.api.add("ci-runner", roleCI)
	h.sinkA.opaque = true
	h.fingerprintSinkA()
	h.engine.SetPolicies([]Policy{h.policy})
	h.pass(Options{Force: true})
	key := h.api.live("ci-runner")[0]
	h.sinkA.put(sinks.Credential{Name: "ci-runner", KeyID: key, Secret: secret.Value("edited by hand")})
	h.clock.Add(checkAgain)
	h.pass(Options{})
	if err := h.sinkA.Verify(t.Context(), h.sinkB.held["ci-runner"]); err != nil {
		t.Errorf("edited template sink not rewritten with the current key: %v", err)
	}
	if live := h.api.live("ci-runner"); len(live) != 1 || live[0] != key {
		t.Errorf("live keys %v, want %s alone", live, key)
	}
}
