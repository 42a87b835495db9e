package rotation

import (
	"strings"
	"testing"
	"text/template"

	"github.com/rotatord/rotatord/sinks"
	"github.com/rotatord/rotatord/sinks/file"
)

// plan showed "rotate" with no error for a name whose rotation every pass
// refuses, as another name's record holds its sink target (a key named
// ci-RUNNER beside a managed ci-runner, whose file target differs only in
// case; or "{{.Name}}.env" of ci-a.docker, which is ci-a's
// "{{.Name}}.docker.env"). A dry run now says why, as the pass would,
// and claims nothing.
func TestPlanShowsTheTargetClashThatRefusesARotation(t *testing.T) {
	h := newHarness(t, 0)
	dir := t.TempDir()
	s, err := file.New(file.Options{
		Path:   template.Must(template.New("p").Parse(dir + "/{{.Name}}.env")),
		Format: file.FormatEnv, UID: -1, GID: -1, Policy: "ci",
	})
	if err != nil {
		t.Fatal(err)
	}
	h.policy.Sinks = []sinks.Sink{s}
	h.policy.AdoptRotate = true
	h.newEngine()
	h.foldCase(true) // as on a CIFS mount: ci-RUNNER.env is ci-runner.env
	h.api.add("ci-runner", roleCI)
	h.pass(Options{Force: true})
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
