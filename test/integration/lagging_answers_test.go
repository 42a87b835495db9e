package integration

import (
	"testing"
	"time"
)

// TestLaggingAnswersMinutesApartDoNotReplaceADeliveredKey: during the grace
// period the API's answers lag twice, minutes apart, each time for one
// listing, one GET and one more listing: the key the rotation delivered is
// missing from them, while it lives on and every answer in between shows
// it. Neither lag lasts the settle time, so the key is not gone: the sinks
// keep it and no third key is made for the name (which would leave the
// delivered key live in no sink).
func TestLaggingAnswersMinutesApartDoNotReplaceADeliveredKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sinks := e.graceWithTwoSinks()
	old := e.sim.only("ci-runner").Key
	// The lagging answers show the organization as it was 8s before: the
	// old key is older than that, the delivered key is not.
	time.Sleep(10 * time.Second)
	e.mustRun("once", "--force")
	held := heldBySinks(t, sinks)
	if len(held) != 1 || held[old] {
		t.Fatalf("sinks hold %v after the rotation, want one new key", held)
	}
	var delivered string
	for k := range held {
		delivered = k
	}
	const lag = `{"list-api-keys": {"stale_for": "8s", "stale_next": 2}, "get-api-key": {"stale_for": "8s", "stale_next": 1}}`

	e.sim.setFaults(lag)
	e.rotatord("once")
	e.sim.setFaults(`{}`)
	e.rotatord("once") // the key is listed again
	// Minutes later (rotatord's clock), one more lagging moment.
	e.extraEnv = []string{"ROTATORD_TEST_CLOCK_OFFSET=5m"}
	e.sim.setFaults(lag)
	r := e.rotatord("once")
	e.sim.setFaults(`{}`)

	for path, format := range sinks {
		c, ok := readSink(t, path, format)
		if !ok || c.Key != delivered || !e.sim.authenticates(c.Key, c.Secret) {
			t.Errorf("sink %s holds %s, want still the delivered key %s\n%s", path, c.Key, delivered, r)
		}
	}
	if live := e.sim.live("ci-runner"); len(live) != 2 {
		t.Errorf("live keys %v, want the old key %s and the delivered %s", ids(live), old, delivered)
	}
	e.sim.checkMaxLive(2, "ci-runner")
}
