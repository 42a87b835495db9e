package integration

import (
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"
)

// TestNewKeyDeletedDuringGraceIsReplacedBeforeItEnds: someone deletes the
// key a rotation just delivered, while the grace period (an hour) keeps
// the old key, which no sink holds any more. The sinks hold a key that
// signs nothing: the next passes must give them a working key once the
// API has settled on the deletion, not an hour later.
func TestNewKeyDeletedDuringGraceIsReplacedBeforeItEnds(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sinks := e.graceWithTwoSinks()
	old := e.sim.only("ci-runner").Key
	e.mustRun("once", "--force")
	held := heldBySinks(t, sinks)
	if len(held) != 1 || held[old] {
		t.Fatalf("sinks hold %v after the rotation, want one new key", held)
	}
	var deleted string
	for k := range held {
		deleted = k
	}
	e.sim.do(http.MethodDelete, "/_sim/keys/"+deleted, nil, nil)

	var last result
	eventually(t, 90*time.Second, func() (bool, string) {
		time.Sleep(time.Second) // a pass a second, as the API settles
		last = e.rotatord("once")
		for path, format := range sinks {
			c, ok := readSink(t, path, format)
			if !ok || !e.sim.authenticates(c.Key, c.Secret) {
				return false, fmt.Sprintf("sink %s holds %s, which does not authenticate (deleted: %s)\n%s", path, c.Key, deleted, last)
			}
		}
		return true, ""
	})
	if live := e.sim.live("ci-runner"); len(live) != 2 || (live[0].Key != old && live[1].Key != old) {
		t.Errorf("live keys %v, want the old key %s (its grace period runs) and the new one", ids(live), old)
	}
	e.sim.checkMaxLive(2, "ci-runner")
}

// graceWithTwoSinks writes a policy rotating ci-runner into a JSON and an
// env file, with an hour's grace period, and returns those files with
// their formats.
func (e *env) graceWithTwoSinks() map[string]string {
	e.writePolicy(`  - name: ci
    match: {name: "ci-runner"}
    schedule: "@every 1h"
    max_age: 1h
    grace_period: 1h
    sinks:
      - {type: file, path: "$OUT/{{.Name}}.json"}
      - {type: file, path: "$OUT/{{.Name}}.env", format: env}
`)
	return map[string]string{filepath.Join(e.out, "ci-runner.json"): "json", filepath.Join(e.out, "ci-runner.env"): "env"}
}
