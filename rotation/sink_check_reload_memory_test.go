package rotation

import "testing"

func (e *Engine) sinkChecksKept() int {
	e.sinkChecksMu.Lock()
	defer e.sinkChecksMu.Unlock()
	return len(e.sinkChecks)
}

// TestSinkCheckTimesGoWithTheirPolicy: a reload that removes a policy, or
// turns its sink_check off, drops what the engine kept of its checks, so
// that a daemon reloaded over and over does not keep every name it ever
// checked.
func TestSinkCheckTimesGoWithTheirPolicy(t *testing.T) {
	h, _ := sinkCheckHarness(t)
	h.clock.Add(checkAgain)
	h.pass(Options{})
	if n := h.engine.sinkChecksKept(); n == 0 {
		t.Fatal("no check kept after a pass that checked")
	}
	off := h.policy
	off.SinkCheck = 0
	if err := h.engine.SetPolicies([]Policy{off}); err != nil {
		t.Fatal(err)
	}
	if n := h.engine.sinkChecksKept(); n != 0 {
		t.Errorf("%d checks kept after sink_check was turned off, want 0", n)
	}
	h.engine.SetPolicies([]Policy{h.policy})
	h.clock.Add(checkAgain)
	h.pass(Options{})
	renamed := h.policy
	renamed.Name = "ci-renamed"
	unlock := h.engine.LockInstall()
	h.engine.CommitLocked(t.Context(), Install{Policies: []Policy{renamed}, API: h.api, OwnKeyID: h.own})
	unlock()
	if n := h.engine.sinkChecksKept(); n != 0 {
		t.Errorf("%d checks kept for a policy a reload removed, want 0", n)
	}
}
