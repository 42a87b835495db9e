package integration

import (
	"fmt"
	"testing"
	"time"
)

// TestWindowOpeningPassFollowsTheShiftedClock: with rotatord's clock
// shifted (ROTATORD_TEST_CLOCK_OFFSET, as the tests shift time), a policy
// whose schedule does not tick before the window opens (hourly) still
// rotates when its window opens on that clock: the pass at the window's
// opening is timed on the daemon's clock, as the window itself is judged.
func TestWindowOpeningPassFollowsTheShiftedClock(t *testing.T) {
	t.Parallel()
	e := newEnv(t, seedKey{"app-1", "ci"})
	zurich, err := time.LoadLocation("Europe/Zurich")
	if err != nil {
		t.Fatal(err)
	}
	e.writePolicy(`  - name: apps
    match: {name: "app-*"}
    schedule: "@every 1h"
    max_age: 1h
    grace_period: 0s
    adopt: rotate
    sinks:
      - {type: file, path: "$OUT/{{.Name}}.json"}
    windows:
      - {days: [wed], start: "10:00", end: "11:00", time_zone: Europe/Zurich}
`)
	old := e.sim.only("app-1")
	// On rotatord's clock, the daemon starts 20 s before a Wednesday's
	// 10:00 in Zurich (a month from now: the key is long due).
	opens := time.Date(2027, 1, 13, 10, 0, 0, 0, zurich)
	offset := opens.Add(-20 * time.Second).Sub(time.Now()).Round(time.Second)
	env := []string{fmt.Sprintf("ROTATORD_TEST_CLOCK_OFFSET=%s", offset)}
	d := e.startDaemonEnv(env)
	defer d.stop()
	eventually(t, 90*time.Second, func() (bool, string) {
		k, _ := e.sim.key(old.Key)
		return !k.Alive, fmt.Sprintf("the window opened at %s on rotatord's clock, and key %s is not rotated yet", opens, old.Key)
	})
	live := e.sim.only("app-1")
	if c, ok := readSink(t, e.out+"/app-1.json", "json"); !ok || c.Key != live.Key {
		t.Errorf("sink holds %q (%v), want the new key %s", c.Key, ok, live.Key)
	}
}
