package daemon

import (
	"context"
	"strings"
	"testing"

	"github.com/rotatord/rotatord/rotation"
)

// A replica that leads again drops the rotatord_hook_failing series of
// the hook runs it made when it led before: the leader in between may
// have run the hook since and seen it pass (and deleted the old keys), so
// that this replica would not run it again for that name before its next
// rotation, and RotatordHookFailing, which leaves a standby's series out
// only while another replica leads, would fire for it as soon as this one
// leads. Here the hook fails for ci-runner; then this replica leads again
// (readJournalAsLeader, as lead does at each new leadership).
func TestHookFailingForgottenWhenLeadingAgain(t *testing.T) {
	e := newEnv(t)
	e.writePolicy(`  - name: ci
    match: {name: "ci-*"}
    grace_period: 0s
    adopt: rotate
    hooks:
      - {event: before_delete, exec: {command: [/bin/sh, -c, 'test "$ROTATORD_NAME" != ci-runner'], timeout: 5s}}
    sinks: [{type: file, path: "out/{{.Name}}.json"}]
`)
	if err := e.d.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.d.RunPass(context.Background(), nil, rotation.Options{Force: true}); err != nil {
		t.Fatal(err)
	}
	if got := grepLines(scrape(t, e.d), "rotatord_hook_failing{"); !strings.Contains(got, `name="ci-runner"`) {
		t.Fatalf("the hook did not fail for ci-runner: rotatord_hook_failing is\n%s", got)
	}

	if err := e.d.readJournalAsLeader(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := grepLines(scrape(t, e.d), "rotatord_hook_failing{"); got != "" {
		t.Errorf("leading again, /metrics still has the failures seen when this replica led before:\n%s", got)
	}
}
