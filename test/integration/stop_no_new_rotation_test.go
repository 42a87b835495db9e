package integration

import (
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// SIGTERM: "no new pass starts; a rotation in flight gets 30 s to finish"
// (README), and with leader_election the Lease is released once the work
// has stopped, so a standby takes over at once. The pass in flight must
// therefore finish the rotations it has started, and start no other:
// here six names are due, the API answers each create after 5 s and the
// pass handles two names at a time (concurrency 1). SIGTERM comes once
// two rotations have started; the real `rotatord run` must not start the
// four others (before the fix it started them one after the other, for
// as long as the 30 s allowed, and a replica held its Lease all that
// time, abandoning the last rotation when the 30 s ran out).
func TestStopStartsNoNewRotation(t *testing.T) {
	t.Parallel()
	keys := []seedKey{
		{"ci-a", "ci"}, {"ci-b", "ci"}, {"ci-c", "ci"},
		{"ci-d", "ci"}, {"ci-e", "ci"}, {"ci-f", "ci"},
	}
	e := newEnv(t, keys...)
	e.writePolicy(`  - name: ci
    match: {name: "ci-*"}
    schedule: "@every 1s"
    max_age: 1h
    grace_period: 1h
    adopt: rotate
    sinks:
      - {type: file, path: "$OUT/{{.Name}}.json"}
`)
	cfg := readFile(t, e.config)
	cfg = strings.Replace(cfg, "  timeout: 10s\n", "  timeout: 10s\n  concurrency: 1\n", 1)
	writeFileAtomic(t, e.config, cfg)
	e.sim.setFaults(`{"create-api-key": {"latency": "5s"}}`)

	d := e.startDaemon()
	var started []string
	eventually(t, 60*time.Second, func() (bool, string) {
		started = started[:0]
		for _, l := range d.logs() {
			if l.msg() == "rotation started" {
				started = append(started, l.str("name"))
			}
		}
		return len(started) >= 2, "fewer than two rotations started:\n" + d.stderr()
	})
	d.signal(syscall.SIGTERM)
	if code := d.waitExit(60 * time.Second); code != 0 {
		t.Fatalf("rotatord exited %d after SIGTERM, want 0:\n%s", code, d.stderr())
	}
	var after []string
	for _, l := range d.logs() {
		if l.msg() == "rotation started" && !slices.Contains(started, l.str("name")) {
			after = append(after, l.str("name"))
		}
	}
	if len(after) > 0 {
		t.Errorf("rotations started after SIGTERM (in flight then: %v): %v\n%s", started, after, d.stderr())
	}
	// The rotations in flight were finished, not abandoned.
	for _, name := range started {
		if _, ok := findLog(d.logs(), "rotation delivered", "name", name); !ok {
			t.Errorf("rotation of %s, in flight at SIGTERM, was not finished:\n%s", name, d.stderr())
		}
	}
}
