package daemon

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rotatord/rotatord/rotation"
)

// liveCI returns the live keys of ci-runner.
func (e *env) liveCI() []string {
	var out []string
	for _, k := range e.sim.Keys() {
		if k.Alive && k.Name == "ci-runner" {
			out = append(out, k.Key)
		}
	}
	return out
}

// A policy whose only window is another day does not rotate, even forced,
// until --ignore-windows; plan shows the window's opening as the due time.
func TestWindowClosedWaitsUntilIgnored(t *testing.T) {
	e := newEnv(t)
	other := strings.ToLower(time.Now().UTC().Add(48 * time.Hour).Weekday().String()[:3])
	e.writePolicy(`  - name: ci
    match: {name: "ci-runner"}
    grace_period: 0s
    adopt: rotate
    windows: [{days: [` + other + `], start: "00:00", end: "00:00"}]
    sinks: [{type: file, path: "out/{{.Name}}.json"}]
`)
	if err := e.d.Reload(); err != nil {
		t.Fatal(err)
	}
	before := e.liveCI()
	out, err := e.d.RunPass(context.Background(), nil, rotation.Options{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || out[0].Decision.Reason != rotation.ReasonOutsideWindow || out[0].Decision.Due.Before(time.Now().Add(24*time.Hour)) {
		t.Fatalf("outcome %+v, want to wait for the window in two days", out)
	}
	if now := e.liveCI(); !slices.Equal(now, before) {
		t.Fatalf("rotated outside the window: %v -> %v", before, now)
	}
	if _, err := e.d.RunPass(context.Background(), nil, rotation.Options{Force: true, IgnoreWindows: true}); err != nil {
		t.Fatal(err)
	}
	if now := e.liveCI(); len(now) != 1 || now[0] == before[0] {
		t.Errorf("--ignore-windows: live %v (was %v), want rotated", now, before)
	}
}

// A before_delete exec hook that fails (a real process) keeps the old key;
// once it succeeds, the old key goes. The after_delivery hook ran with the
// event in its environment and no secret.
func TestBeforeDeleteExecHookIsTheConsumerCheck(t *testing.T) {
	e := newEnv(t)
	gate := filepath.Join(e.dir, "consumer-ok")
	seen := filepath.Join(e.dir, "after-delivery.env")
	e.writePolicy(`  - name: ci
    match: {name: "ci-runner"}
    grace_period: 0s
    adopt: rotate
    hooks:
      - {event: after_delivery, exec: {command: [/bin/sh, -c, "env > ` + seen + `"]}}
      - {event: before_delete, exec: {command: [/bin/test, -e, ` + gate + `], timeout: 5s}}
    sinks: [{type: file, path: "out/{{.Name}}.json"}]
`)
	if err := e.d.Reload(); err != nil {
		t.Fatal(err)
	}
	old := e.liveCI()[0]
	if _, err := e.d.RunPass(context.Background(), nil, rotation.Options{Force: true}); err != nil {
		t.Fatal(err)
	}
	if live := e.liveCI(); len(live) != 2 || !slices.Contains(live, old) {
		t.Fatalf("live %v: want the old key kept while the consumer check fails", live)
	}
	env, err := os.ReadFile(seen)
	if err != nil || !strings.Contains(string(env), "ROTATORD_EVENT=after_delivery") || !strings.Contains(string(env), "ROTATORD_OLD_KEY_IDS="+old) {
		t.Fatalf("after_delivery hook environment: %v\n%s", err, env)
	}
	for _, k := range e.sim.Keys() {
		if strings.Contains(string(env), k.Secret) {
			t.Fatalf("the secret of %s reached the hook", k.Key)
		}
	}
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	e.d.DeleteDue(context.Background(), rotation.Options{IgnoreBackoff: true})
	if live := e.liveCI(); len(live) != 1 || live[0] == old {
		t.Errorf("live %v after the consumer check passed: want only the new key", live)
	}
	if body := scrape(t, e.d); !strings.Contains(body, `rotatord_hook_runs_total{account="default",event="before_delete",hook="exec#1",policy="ci",result="failure"} 1`) {
		t.Errorf("/metrics lacks the failed consumer check:\n%s", grepLines(body, "hook_runs"))
	}
}
