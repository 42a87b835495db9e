package daemon

import (
	"os"
	"path/filepath"
	"testing"
)

// /readyz (and rotatord_ready) say whether rotatord can list the API keys
// (README: "200 once a pass has listed the keys successfully"). Readiness
// was noted only when a whole pass ended, so a first pass held by a slow
// consumer check (a before_delete hook may run 30 minutes) left a daemon
// whose listing had succeeded answering 503 "no pass has run yet", and
// RotatordNotReady ("cannot list the API keys") fired after 15 minutes.
func TestReadyOnceListedWhileAConsumerCheckRuns(t *testing.T) {
	e := newEnv(t)
	running := filepath.Join(e.dir, "check-running")
	gate := filepath.Join(e.dir, "consumer-ok")
	e.writePolicy(`  - name: ci
    match: {name: "ci-runner"}
    grace_period: 0s
    adopt: rotate
    hooks:
      - {event: before_delete, exec: {command: [/bin/sh, -c, "touch ` + running + `; while [ ! -e ` + gate + ` ]; do sleep 0.05; done"], timeout: 1m}}
    sinks: [{type: file, path: "out/{{.Name}}.json"}]
`)
	if err := e.d.Reload(); err != nil {
		t.Fatal(err)
	}
	e.start()
	t.Cleanup(func() { os.WriteFile(gate, nil, 0o600) })
	e.eventually("the consumer check runs", func() bool {
		_, err := os.Stat(running)
		return err == nil
	})
	if code, body := e.get("/readyz"); code != 200 {
		t.Errorf("/readyz = %d %q while the first pass waits for a consumer check after a successful listing; want 200", code, body)
	}
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	e.eventually("ready after the pass", func() bool { code, _ := e.get("/readyz"); return code == 200 })
}
