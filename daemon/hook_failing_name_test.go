package daemon

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rotatord/rotatord/rotation"
)

// A before_delete exec hook (a real process) that fails for one name and
// passes for the policy's other: rotatord_hook_failing has a series for
// that name only, while rotatord_hook_runs_total counts a success for the
// policy's hook beside the failure; once the hook passes for that name
// too (its retry after the backoff), the series goes.
func TestHookFailingSeriesForTheFailingNameOnly(t *testing.T) {
	e := newEnv(t)
	gate := filepath.Join(e.dir, "ci-runner-ok")
	// Passes for every name but ci-runner, and for ci-runner once the
	// gate exists: a consumer check broken for one consumer.
	e.writePolicy(`  - name: ci
    match: {name: "ci-*"}
    grace_period: 0s
    adopt: rotate
    hooks:
      - {event: before_delete, exec: {command: [/bin/sh, -c, 'test "$ROTATORD_NAME" != ci-runner || test -e ` + gate + `'], timeout: 5s}}
    sinks: [{type: file, path: "out/{{.Name}}.json"}]
`)
	if err := e.d.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.d.RunPass(context.Background(), nil, rotation.Options{Force: true}); err != nil {
		t.Fatal(err)
	}
	const (
		failing = `rotatord_hook_failing{account="default",event="before_delete",hook="exec#0",name="ci-runner",policy="ci"} 1`
		success = `rotatord_hook_runs_total{account="default",event="before_delete",hook="exec#0",policy="ci",result="success"} 1`
	)
	body := scrape(t, e.d)
	if !strings.Contains(body, success) {
		t.Fatalf("the hook did not pass for ci-deploy: /metrics lacks %s\n%s", success, grepLines(body, "hook_runs"))
	}
	if !strings.Contains(body, failing) {
		t.Errorf("/metrics lacks %s\n%s", failing, grepLines(body, "hook_"))
	}
	if got := grepLines(body, "rotatord_hook_failing{"); strings.Count(got, "\n") != 0 || strings.Contains(got, "ci-deploy") {
		t.Errorf("series for names that did not fail:\n%s", got)
	}

	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	e.d.DeleteDue(context.Background(), rotation.Options{IgnoreBackoff: true})
	body = scrape(t, e.d)
	if !strings.Contains(body, `rotatord_hook_runs_total{account="default",event="before_delete",hook="exec#0",policy="ci",result="success"} 2`) {
		t.Fatalf("the hook did not pass for ci-runner at its retry:\n%s", grepLines(body, "hook_runs"))
	}
	if got := grepLines(body, "rotatord_hook_failing{"); got != "" {
		t.Errorf("after ci-runner's hook passed, /metrics still has\n%s", got)
	}
}
