package integration

import (
	"fmt"
	"strings"
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

// TestPlanNextOnTheShiftedClock: with rotatord's clock shifted, plan's
// NEXT ("in 10m0s") counts from that clock, the one its due time is on,
// not from the real one (months away).
func TestPlanNextOnTheShiftedClock(t *testing.T) {
	t.Parallel()
	e := newEnv(t, seedKey{"app-1", "ci"})
	e.writePolicy(`  - name: apps
    match: {name: "app-*"}
    schedule: "@every 1h"
    max_age: 1h
    grace_period: 0s
    adopt: rotate
    sinks:
      - {type: file, path: "$OUT/{{.Name}}.json"}
    windows:
      - {days: [wed], start: "10:00", end: "11:00", time_zone: UTC}
`)
	opens := time.Date(2027, 1, 13, 10, 0, 0, 0, time.UTC)
	offset := opens.Add(-10 * time.Minute).Sub(time.Now()).Round(time.Second)
	e.extraEnv = []string{fmt.Sprintf("ROTATORD_TEST_CLOCK_OFFSET=%s", offset)}
	r := e.mustRun("plan")
	var next string
	for _, l := range strings.Split(r.stdout, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == "apps" {
			if i := strings.Index(l, " in "); i >= 0 {
				next = strings.Fields(l[i+4:])[0]
			}
		}
	}
	d, err := time.ParseDuration(next)
	if err != nil || d < 5*time.Minute || d > 10*time.Minute {
		t.Errorf("plan's NEXT is %q, want about 10m (the window opens 10 minutes from now on rotatord's clock)\n%s", next, r)
	}
}
