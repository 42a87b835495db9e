package rotation

import (
	"strings"
	"testing"
)

// plan showed "rotate" with no error for a name whose rotation every pass
// refuses, as another name's record holds its sink target (a key named
// ci-RUNNER beside a managed ci-runner, whose file target differs only in
// case; or "{{.Name}}.env" of ci-a.docker, which is ci-a's
// "{{.Name}}.docker.env"). A dry run now says why, as the pass would,
// and claims nothing.
func TestPlanShowsTheTargetClashThatRefusesARotation(t *testing.T) {
	h, _ := ciRunnerRotatedIntoACaseFoldingDir(t)
	h.api.add("ci-RUNNER", roleCI)

	out := h.pass(Options{DryRun: true})
	o := findOutcome(out, "ci-RUNNER")
	if o.Decision.Action != ActionRotate || o.Err == nil || !strings.Contains(o.Err.Error(), `"ci-runner"`) {
		t.Errorf("plan: ci-RUNNER %s, error %v; want rotate with the error naming ci-runner, whose target it renders", o.Decision.Action, o.Err)
	}
	if o := findOutcome(out, "ci-runner"); o.Err != nil {
		t.Errorf("plan: ci-runner: %v", o.Err)
	}
	// The pass refuses it as plan said, and the dry run claimed nothing:
	// ci-runner still rotates.
	out = h.pass(Options{Force: true})
	if o := findOutcome(out, "ci-RUNNER"); o.Err == nil {
		t.Errorf("pass: ci-RUNNER rotated")
	}
	if o := findOutcome(out, "ci-runner"); o.Err != nil {
		t.Errorf("pass: ci-runner: %v", o.Err)
	}
	h.assertNoSecretLeak()
}
