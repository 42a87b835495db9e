package integration

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// crashPolicy rotates both CI keys at start (adopt rotate), checks every
// second, and deletes old keys 2s after delivery.
const crashPolicy = `  - name: ci
    match: {name: "ci-*"}
    schedule: "@every 1s"
    max_age: 1h
    grace_period: 2s
    adopt: rotate
    sinks:
      - {type: file, path: "$OUT/{{.Name}}.json"}
      - {type: file, path: "$OUT/{{.Name}}.env", format: env}
`

var crashNames = []string{"ci-runner", "ci-deploy"}

func (e *env) crashSinks(name string) map[string]string {
	return map[string]string{
		filepath.Join(e.out, name+".json"): "json",
		filepath.Join(e.out, name+".env"):  "env",
	}
}

// waitSettled waits until every name has exactly one live key, that every
// sink holds and that is not the old one, and no rotation is in flight.
func (e *env) waitSettled(old map[string]string, within time.Duration) {
	e.t.Helper()
	eventually(e.t, within, func() (bool, string) {
		recs := e.records()
		for _, n := range crashNames {
			live := e.sim.live(n)
			if len(live) != 1 || live[0].Key == old[n] {
				return false, fmt.Sprintf("%s: live keys %v (old %s)", n, ids(live), old[n])
			}
			held := heldBySinks(e.t, e.crashSinks(n))
			if len(held) != 1 || !held[live[0].Key] {
				return false, fmt.Sprintf("%s: sinks hold %v, live key %s", n, held, live[0].Key)
			}
			if r := recs[n]; r.Rotation != nil || r.CurrentKeyID != live[0].Key {
				return false, fmt.Sprintf("%s: state record current %s rotation %+v", n, r.CurrentKeyID, r.Rotation)
			}
		}
		return true, ""
	})
	for _, n := range crashNames {
		checkSettled(e, n, old[n], e.crashSinks(n))
	}
}

// waitCreatesReceived waits until exosim has received n create-api-key
// calls.
func (e *env) waitCreatesReceived(n int) {
	e.t.Helper()
	eventually(e.t, 30*time.Second, func() (bool, string) {
		got := len(e.sim.requests("?op=create-api-key"))
		return got >= n, fmt.Sprintf("exosim received %d create-api-key calls, want %d", got, n)
	})
}

// TestKillDuringRotation kills `rotatord run` with SIGKILL at several
// points of a rotation, restarts it without faults, and requires the end
// state a crash must not change: one live key per name, held by every
// sink, authenticating, the old keys deleted after the grace period, and
// never more than two keys of a name alive at once.
func TestKillDuringRotation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		faults string
		// killWhen waits for the moment to kill; it may look at the
		// first process's logs and the simulator.
		killWhen func(e *env, d *daemonProc)
		// afterKill checks the state the kill left, before the restart.
		afterKill func(e *env, d *daemonProc, old map[string]string)
		// afterRestart checks the logs of the second process.
		afterRestart func(e *env, d *daemonProc, old, killed map[string]string)
	}{
		{
			// The create request is in flight (3s latency) when the
			// process dies. The simulator either abandons it, or (it
			// reads a request's body only after the latency, so it cannot
			// see the client go) creates the key anyway: a key whose
			// secret nobody will ever read. Either way the recorded
			// intent must be rolled back and any such key deleted.
			name:   "create-in-flight",
			faults: `{"create-api-key": {"latency": "3s"}}`,
			killWhen: func(e *env, d *daemonProc) {
				for _, n := range crashNames {
					d.waitLog(20*time.Second, "rotation started", "name", n)
				}
				// The creates reach the simulator ("rotation started" is
				// logged before the create is sent).
				e.waitCreatesReceived(len(crashNames))
			},
			afterKill: func(e *env, d *daemonProc, old map[string]string) {
				eventually(e.t, 30*time.Second, func() (bool, string) {
					c := e.sim.calls()["create-api-key"]
					return c.Total == len(crashNames), fmt.Sprintf("create calls %+v: not all finished", c)
				})
				e.t.Logf("create calls after the kill: %+v", e.sim.calls()["create-api-key"])
				for n, r := range e.records() {
					if r.Rotation == nil || r.Rotation.Phase != "intent" {
						e.t.Errorf("%s: rotation %+v after the kill, want phase intent", n, r.Rotation)
					}
				}
			},
			afterRestart: func(e *env, d *daemonProc, old, killed map[string]string) {
				for _, n := range crashNames {
					if _, ok := findLog(d.logs(), "recovering interrupted rotation", "name", n, "phase", "intent"); !ok {
						e.t.Errorf("%s: no recovery of the intent logged", n)
					}
				}
				if c := e.sim.calls()["create-api-key"]; c.ByStatus["200"] > len(crashNames) {
					// Some key was created for the dead process: the
					// recovery must have found and deleted it.
					if n := countLogs(d.logs(), "deleted key created without a delivered secret"); n != c.ByStatus["200"]-len(crashNames) {
						e.t.Errorf("%d orphans deleted, want %d (creates answered to the killed process)", n, c.ByStatus["200"]-len(crashNames))
					}
				}
			},
		},
		{
			// The create's answer is lost, and the process dies while it
			// lists the keys to find the key it created: that key is
			// alive, its secret gone. The restart must delete it.
			name:   "orphan-cleanup-in-flight",
			faults: `{"create-api-key": {"lose_response_next": 2}, "list-api-keys": {"latency": "2s"}}`,
			killWhen: func(e *env, d *daemonProc) {
				eventually(e.t, 30*time.Second, func() (bool, string) {
					n := countLogs(d.logs(), "create outcome unknown: looking for a key created without its secret")
					return n == len(crashNames), fmt.Sprintf("%d ambiguous creates logged", n)
				})
			},
			afterKill: func(e *env, d *daemonProc, old map[string]string) {
				for _, n := range crashNames {
					if live := e.sim.live(n); len(live) != 2 {
						e.t.Errorf("%s: live keys %v after the kill, want the old key and the orphan", n, ids(live))
					}
				}
			},
			afterRestart: func(e *env, d *daemonProc, old, killed map[string]string) {
				for _, n := range crashNames {
					if _, ok := findLog(d.logs(), "deleted key created without a delivered secret", "name", n); !ok {
						e.t.Errorf("%s: the orphan was not deleted by the recovery", n)
					}
				}
			},
		},
		{
			// The new key is recorded; the GET that confirms it before
			// any sink gets it is in flight (3s latency). No sink holds
			// the new key: the restart rolls it back (nobody has its
			// secret) and rotates again.
			name:   "confirm-in-flight",
			faults: `{"get-api-key": {"latency": "3s"}}`,
			killWhen: func(e *env, d *daemonProc) {
				for _, n := range crashNames {
					d.waitLog(20*time.Second, "replacement created", "name", n)
				}
				time.Sleep(500 * time.Millisecond) // the GETs reach the simulator
			},
			afterKill: func(e *env, d *daemonProc, old map[string]string) {
				for n, r := range e.records() {
					if r.Rotation == nil || r.Rotation.Phase != "created" {
						e.t.Errorf("%s: rotation %+v after the kill, want phase created", n, r.Rotation)
						continue
					}
					if held := heldBySinks(e.t, e.crashSinks(n)); held[r.Rotation.NewKeyID] {
						e.t.Errorf("%s: a sink holds the new key %s before the API confirmed it", n, r.Rotation.NewKeyID)
					}
				}
			},
			afterRestart: func(e *env, d *daemonProc, old, killed map[string]string) {
				for _, n := range crashNames {
					if createdNamed(e, n) != 3 {
						e.t.Errorf("%s: %d keys ever existed, want 3 (the old, the one rolled back, its replacement)", n, createdNamed(e, n))
					}
				}
			},
		},
		{
			// The create is answered but applied 6s late: the process
			// waits for the API to show the new key before any sink gets
			// it, and dies while it waits. No sink may hold that key; the
			// restart deletes it once it shows (nobody has its secret) and
			// rotates again.
			name:   "late-create-awaited",
			faults: `{"create-api-key": {"late_apply": "6s"}}`,
			killWhen: func(e *env, d *daemonProc) {
				for _, n := range crashNames {
					d.waitLog(20*time.Second, "replacement created", "name", n)
				}
			},
			afterKill: func(e *env, d *daemonProc, old map[string]string) {
				for n, r := range e.records() {
					if r.Rotation == nil || r.Rotation.Phase != "created" {
						e.t.Errorf("%s: rotation %+v after the kill, want phase created", n, r.Rotation)
						continue
					}
					for path, format := range e.crashSinks(n) {
						if c, ok := readSink(e.t, path, format); ok && c.Key == r.Rotation.NewKeyID {
							e.t.Errorf("%s: sink %s holds %s, whose create the API has not applied yet", n, path, c.Key)
						}
					}
				}
			},
			afterRestart: func(e *env, d *daemonProc, old, killed map[string]string) {
				for _, n := range crashNames {
					if createdNamed(e, n) != 3 {
						e.t.Errorf("%s: %d keys ever existed, want 3 (the old, the late one, its replacement)", n, createdNamed(e, n))
					}
				}
			},
		},
		{
			// The old keys' deletion is pending (the operation answers
			// "pending" to 3 polls) when the process dies. The restart
			// deletes them; nothing else rotates.
			name:   "delete-pending",
			faults: `{"delete-api-key": {"pending_polls": 3}}`,
			killWhen: func(e *env, d *daemonProc) {
				eventually(e.t, 30*time.Second, func() (bool, string) {
					c := e.sim.calls()["get-operation"]
					return c.Total >= 1, "no operation polled yet"
				})
			},
			afterKill: func(e *env, d *daemonProc, old map[string]string) {
				pending := 0
				for _, n := range crashNames {
					if k, _ := e.sim.key(old[n]); k.Alive {
						pending++
					}
				}
				if pending == 0 {
					e.t.Errorf("no old key alive after the kill: the kill did not land while a delete was pending")
				}
			},
			afterRestart: func(e *env, d *daemonProc, old, killed map[string]string) {
				for _, n := range crashNames {
					if got := e.sim.only(n).Key; got != killed[n] {
						e.t.Errorf("%s: final key %s, want %s: rotated again after the restart", n, got, killed[n])
					}
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.writePolicy(crashPolicy)
			old := map[string]string{}
			for _, n := range crashNames {
				old[n] = e.sim.only(n).Key
			}
			e.sim.setFaults(tt.faults)

			d1 := e.startDaemon()
			tt.killWhen(e, d1)
			d1.kill()
			tt.afterKill(e, d1, old)
			killed := map[string]string{}
			for _, n := range crashNames {
				if c, ok := readSink(t, filepath.Join(e.out, n+".json"), "json"); ok {
					killed[n] = c.Key
				}
			}
			e.sim.clearFaults()

			d2 := e.startDaemon()
			e.waitSettled(old, 60*time.Second)
			tt.afterRestart(e, d2, old, killed)
			d2.stop()
			e.sim.checkMaxLive(2, crashNames...)
			t.Logf("max live per name: %v", e.sim.maxLive())
		})
	}
}
