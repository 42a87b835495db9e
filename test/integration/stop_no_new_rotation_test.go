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
// here ten names are due, the API answers each create after 5 s, one
// request at a time (concurrency 1), and the pass handles two names at a
// time: rotating them all takes some 50 s, more than the 30 s a stop
// allows. SIGTERM comes once two rotations have started. Before the fix
// the pass started the others one after the other for as long as the
// 30 s allowed (a replica held its Lease all that time) and abandoned the
// last ones when they ran out.
//
// What was in flight at the stop is the daemon's to say, not a snapshot
// of the log taken before the signal: on a loaded machine more rotations
// may start between that snapshot and the daemon's handling of SIGTERM,
// and those were started before the stop. So: every rotation started is
// finished (none abandoned), the names left are each logged as not
// started, and the stop left some (all ten cannot have started before it
// unless the signal took some 40 s to be handled).
func TestStopStartsNoNewRotation(t *testing.T) {
	t.Parallel()
	var keys []seedKey
	for _, n := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"} {
		keys = append(keys, seedKey{"ci-" + n, "ci"})
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
	if !strings.Contains(cfg, "  timeout: 10s\n") {
		t.Fatalf("the config has no exoscale timeout line to add concurrency after:\n%s", cfg)
	}
	cfg = strings.Replace(cfg, "  timeout: 10s\n", "  timeout: 10s\n  concurrency: 1\n", 1)
	writeFileAtomic(t, e.config, cfg)
	e.sim.setFaults(`{"create-api-key": {"latency": "5s"}}`)

	d := e.startDaemon()
	eventually(t, 60*time.Second, func() (bool, string) {
		n := 0
		for _, l := range d.logs() {
			if l.msg() == "rotation started" {
				n++
			}
		}
		return n >= 2, "fewer than two rotations started:\n" + d.stderr()
	})
	d.signal(syscall.SIGTERM)
	if code := d.waitExit(60 * time.Second); code != 0 {
		t.Fatalf("rotatord exited %d after SIGTERM, want 0:\n%s", code, d.stderr())
	}
	logs := d.logs()
	var started, notStarted []string
	for _, l := range logs {
		switch l.msg() {
		case "rotation started":
			started = append(started, l.str("name"))
		case "rotation due, not started: rotatord is stopping":
			if !slices.Contains(notStarted, l.str("name")) {
				notStarted = append(notStarted, l.str("name"))
			}
		}
	}
	// The rotations started were finished, not abandoned.
	for _, name := range started {
		if _, ok := findLog(logs, "rotation delivered", "name", name); !ok {
			t.Errorf("rotation of %s, started before the stop, was not finished:\n%s", name, d.stderr())
		}
	}
	if _, ok := findLog(logs, "stop: abandoning the rotation in flight; it resumes or rolls back at the next start"); ok {
		t.Errorf("the stop abandoned a rotation:\n%s", d.stderr())
	}
	if len(notStarted) == 0 {
		t.Errorf("no due name was left for the next start (started: %v): the stop went on starting rotations\n%s", started, d.stderr())
	}
	for _, k := range keys {
		if s, n := slices.Contains(started, k.name), slices.Contains(notStarted, k.name); s == n {
			t.Errorf("%s: started %v, logged as not started %v: want one or the other\n%s", k.name, s, n, d.stderr())
		}
	}
}
