package rotation

import (
	"strings"
	"testing"
	"text/template"

	"github.com/rotatord/rotatord/sinks"
	"github.com/rotatord/rotatord/sinks/file"
	"github.com/rotatord/rotatord/state"
)

// Key names are chosen by whoever may create keys, and a file sink's
// directory may be on a case-insensitive file system (a CIFS or vfat
// mount, an ext4 directory with casefold): there "ci-RUNNER.env" is
// ci-runner's file. A key named "ci-RUNNER" must not have its rotation
// write there: it is refused before any key is made, as a name rendering
// another name's target is, whatever file system the directory is on.
func TestKeyNameDifferingOnlyInCaseFromAnotherNamesFileTargetIsRefused(t *testing.T) {
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
	h.api.add("ci-runner", roleCI)
	h.pass(Options{Force: true})

	created := h.api.n
	h.api.add("ci-RUNNER", roleCI)
	created++
	for range 2 { // and again, once the failure's backoff is over
		out := h.pass(Options{Force: true, IgnoreBackoff: true})
		o := findOutcome(out, "ci-RUNNER")
		if o.Err == nil || !strings.Contains(o.Err.Error(), `"ci-runner"`) {
			t.Errorf("ci-RUNNER: %v, want an error naming key name ci-runner, whose file target differs only in case", o.Err)
		}
	}
	if len(h.api.live("ci-RUNNER")) != 1 || h.api.n != created+2 { // ci-runner rotated twice more, ci-RUNNER never
		t.Errorf("keys created: %d, want ci-runner's two rotations only; ci-RUNNER has %v", h.api.n-created, h.api.live("ci-RUNNER"))
	}
	h.assertNoSecretLeak()
}

// Two names that differ only in case, each with a record of its own
// file, were both managed before file targets were compared without
// regard to case: they go on rotating (on a case-sensitive file system
// they are two files), and a third spelling is refused.
func TestNamesDifferingOnlyInCaseBothManagedBeforeKeepRotating(t *testing.T) {
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
	h.api.add("ci-runner", roleCI)
	h.pass(Options{Force: true})
	// ci-RUNNER's record as an earlier version left it: delivered to its
	// own file.
	k := h.api.add("ci-RUNNER", roleCI)
	r := h.record("ci-runner").Clone()
	r.Name, r.CurrentKeyID = "ci-RUNNER", k
	r.Delivered = state.DeliveriesOf(map[string]state.Delivery{sinkID(s, "ci-RUNNER"): {KeyID: k}})
	if err := h.store.Put(r); err != nil {
		t.Fatal(err)
	}

	h.api.add("ci-Runner", roleCI)
	out := h.pass(Options{Force: true, IgnoreBackoff: true})
	for _, name := range []string{"ci-runner", "ci-RUNNER"} {
		if o := findOutcome(out, name); o.Err != nil || h.current(name) == "" {
			t.Errorf("%s: %v (current key %q), want rotated", name, o.Err, h.current(name))
		}
	}
	if o := findOutcome(out, "ci-Runner"); o.Err == nil {
		t.Errorf("ci-Runner: rotated, want refused: its file target is ci-runner's and ci-RUNNER's but for case")
	}
	h.assertNoSecretLeak()
}
