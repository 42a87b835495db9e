package rotation

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rotatord/rotatord/sinks"
)

// Targets were compared as path text (and case): a directory the operator
// aliased with a symlink ("<dir>/web-prod" -> "web", so that a template
// "<dir>/{{.Name}}/cred.env" reaches web's directory for a key someone
// named web-prod) gave two key names one file under two spellings. Seen
// with the real binary: web-prod's rotation replaced web's file with its
// key, of the role its creator chose, and web's own rotation then failed
// its read-back. The second name to claim the file is now refused before
// any key is made, as for two names spelled alike, and the first keeps its
// file.
func TestTwoNamesReachingOneFileThroughASymlinkedDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "ci-runner"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("ci-runner", filepath.Join(dir, "ci-runner-prod")); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, 0)
	h.policy.Sinks = []sinks.Sink{fileSinkAt(t, dir+"/{{.Name}}/cred.env", "env")}
	h.policy.AdoptRotate = true
	h.newEngine()
	h.api.add("ci-runner", roleCI)
	h.pass(Options{Force: true})
	first := h.current("ci-runner")
	if first == "" {
		t.Fatal("ci-runner was not rotated")
	}
	h.api.add("ci-runner-prod", roleCI)
	out := h.pass(Options{Force: true, IgnoreBackoff: true})
	if o := findOutcome(out, "ci-runner-prod"); o.Err == nil || !strings.Contains(o.Err.Error(), "two key names render the same target") {
		t.Errorf("ci-runner-prod: %v, want refused: its target is ci-runner's file", o.Err)
	}
	if o := findOutcome(out, "ci-runner"); o.Err != nil {
		t.Errorf("ci-runner: %v, want rotated", o.Err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "ci-runner", "cred.env"))
	if err != nil {
		t.Fatal(err)
	}
	if cur := h.current("ci-runner"); cur == "" || !strings.Contains(string(b), cur) {
		t.Errorf("ci-runner's file does not hold ci-runner's current key %q", cur)
	}
	h.assertNoSecretLeak()
}
