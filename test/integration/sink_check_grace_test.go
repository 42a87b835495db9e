package integration

import (
	"os"
	"strings"
	"testing"
	"time"
)

// TestSinkCheckDuringTheGracePeriod: with the real binary, a file removed
// while the rotation's old key lives on (grace_period: 1h) gets the new
// key back at the next check, not an hour later; both keys stay, no third.
func TestSinkCheckDuringTheGracePeriod(t *testing.T) {
	t.Parallel()
	e, jsonPath, _ := newSinkCheckEnv(t, strings.Replace(sinkCheckPolicy, "grace_period: 0s", "grace_period: 1h", 1))
	e.mustRun("once", "--force")
	key := e.checkSink(jsonPath, "json", "ci-runner", 0o600)

	if err := os.Remove(jsonPath); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // past sink_check since the delivery
	e.mustRun("once")
	if _, err := os.Stat(jsonPath); err != nil {
		t.Fatalf("file removed during the grace period not given back by once: %v", err)
	}
	if got := e.checkSink(jsonPath, "json", "ci-runner", 0o600); got != key {
		t.Errorf("file holds %s, want the current key %s", got, key)
	}
	if n := createdNamed(e, "ci-runner"); n != 2 {
		t.Errorf("%d keys named ci-runner ever existed, want 2", n)
	}
	e.sim.checkMaxLive(2, "ci-runner")
}
