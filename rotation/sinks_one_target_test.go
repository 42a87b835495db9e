package rotation

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rotatord/rotatord/sinks"
	"github.com/rotatord/rotatord/sinks/file"
)

// Two sinks of a policy whose templates differ but render one file for
// some key names ("{{.Name}}.cred" as JSON, the first ten characters of
// the name + ".cred" as env: one file for "ci-runtime"). validate refuses
// two sinks with the same template ("the two sinks would overwrite each
// other"); for these it cannot tell, and the second sink's write replaced
// the first's: the JSON consumer of ci-runtime found an env file. The name
// is refused before any key is made; a name the sinks keep apart rotates.
func TestTwoSinksRenderingOneTargetForANameAreRefused(t *testing.T) {
	h := newHarness(t, 0)
	dir := t.TempDir()
	h.policy.Sinks = []sinks.Sink{fileSinkAt(t, dir+"/{{.Name}}.cred", file.FormatJSON), fileSinkAt(t, dir+`/{{printf "%.10s" .Name}}.cred`, file.FormatEnv)}
	h.newEngine()
	h.api.add("ci-runtime", roleCI)
	h.api.add("ci-runner-a", roleCI)
	created := h.api.n
	out := h.pass(Options{Force: true})
	o := findOutcome(out, "ci-runtime")
	if o.Err == nil || !strings.Contains(o.Err.Error(), dir+"/ci-runtime.cred") || !strings.Contains(o.Err.Error(), "#0") || !strings.Contains(o.Err.Error(), "#1") {
		t.Errorf("ci-runtime: %v, want an error naming the target and both sinks", o.Err)
	}
	if n := len(h.api.live("ci-runtime")); n != 1 {
		t.Errorf("ci-runtime has %d live keys, want its one key: none made for a name refused", n)
	}
	if _, err := os.Stat(filepath.Join(dir, "ci-runtime.cred")); err == nil {
		b, _ := os.ReadFile(filepath.Join(dir, "ci-runtime.cred"))
		t.Errorf("a file was written for ci-runtime, whose two sinks write it each in its format:\n%.40s", b)
	}
	if o := findOutcome(out, "ci-runner-a"); o.Err != nil {
		t.Errorf("ci-runner-a, whose sinks render two files: %v", o.Err)
	}
	if h.api.n != created+1 {
		t.Errorf("keys created: %d, want one (ci-runner-a's)", h.api.n-created)
	}
	h.assertNoSecretLeak()
}

// Two sinks of a policy whose targets differ only in case ("{{.Name}}.cred"
// as JSON, "{{.Name}}.CRED" as env) write one file where the directory
// folds case (a CIFS mount, a casefold directory): the name is refused
// there as for one exact target. Where the directory tells case apart
// they are two files, and the name rotates.
func TestTwoSinksWhoseTargetsDifferOnlyInCaseAreRefusedWhereTheDirectoryFoldsCase(t *testing.T) {
	for _, fold := range []bool{true, false} {
		h := newHarness(t, 0)
		dir := t.TempDir()
		h.policy.Sinks = []sinks.Sink{fileSinkAt(t, dir+"/{{.Name}}.cred", file.FormatJSON), fileSinkAt(t, dir+"/{{.Name}}.CRED", file.FormatEnv)}
		h.newEngine()
		h.foldCase(fold)
		h.api.add("ci-runner", roleCI)
		created := h.api.n
		o := findOutcome(h.pass(Options{Force: true}), "ci-runner")
		if !fold {
			if o.Err != nil || h.api.n != created+1 {
				t.Errorf("case-sensitive directory: ci-runner: %v (keys created %d), want rotated into two files", o.Err, h.api.n-created)
			}
			continue
		}
		if o.Err == nil || !strings.Contains(o.Err.Error(), "#0") || !strings.Contains(o.Err.Error(), "#1") || !strings.Contains(o.Err.Error(), "without regard to case") {
			t.Errorf("directory folding case: ci-runner: %v, want an error naming both sinks and saying case was not regarded", o.Err)
		}
		if h.api.n != created {
			t.Errorf("directory folding case: keys created: %d, want none for a name refused", h.api.n-created)
		}
		h.assertNoSecretLeak()
	}
}
