package rotation

import (
	"strings"
	"testing"

	"github.com/rotatord/rotatord/sinks"
	"github.com/rotatord/rotatord/sinks/file"
	"github.com/rotatord/rotatord/state"
)

// foldCase makes the engine tell every file sink directory as folding
// case (fold) or not, and counts the directories it is asked about.
func (h *harness) foldCase(fold bool) map[string]int {
	asked := map[string]int{}
	h.engine.dirFoldsCase = func(dir string) bool {
		asked[dir]++
		return fold
	}
	return asked
}

// ciRunnerRotatedIntoACaseFoldingDir returns a harness whose policy
// adopts and has one file sink, "{{.Name}}.env" in a temporary directory
// counted as folding case, and that sink; ci-runner was made and rotated
// into it by one forced pass.
func ciRunnerRotatedIntoACaseFoldingDir(t *testing.T) (*harness, sinks.Sink) {
	t.Helper()
	h, s := caseHarness(t, t.TempDir())
	h.foldCase(true) // as on a CIFS mount: ci-RUNNER.env is ci-runner.env
	h.api.add("ci-runner", roleCI)
	h.pass(Options{Force: true})
	return h, s
}

// Key names are chosen by whoever may create keys, and a file sink's
// directory may be on a case-insensitive file system (a CIFS or vfat
// mount, an ext4 directory with casefold): there "ci-RUNNER.env" is
// ci-runner's file. A key named "ci-RUNNER" must not have its rotation
// write there: it is refused before any key is made, as a name rendering
// another name's target is, where the directory folds case (or cannot be
// told apart from one that does).
func TestKeyNameDifferingOnlyInCaseFromAnotherNamesFileTargetIsRefused(t *testing.T) {
	h, _ := ciRunnerRotatedIntoACaseFoldingDir(t)

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
// regard to case (or while the directory told case apart): they go on
// rotating, and a third spelling is refused where the directory folds
// case.
func TestNamesDifferingOnlyInCaseBothManagedBeforeKeepRotating(t *testing.T) {
	h, s := ciRunnerRotatedIntoACaseFoldingDir(t)
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

// Where the directory tells case apart (ext4, xfs, tmpfs without
// casefold), ci-RUNNER.env is not ci-runner's file: a key named ci-RUNNER
// made before ci-runner is first managed does not keep ci-runner from
// rotating, and each has its own file. The directory, and those above it,
// are inspected once per pass, whatever the number of names.
func TestNamesDifferingOnlyInCaseBothRotateWhereTheDirectoryTellsCaseApart(t *testing.T) {
	dir := t.TempDir()
	h, s := caseHarness(t, dir)
	asked := h.foldCase(false)
	h.upperFirst()
	h.api.add("ci-Runner", roleCI)

	clear(asked)
	out := h.pass(Options{Force: true, IgnoreBackoff: true})
	for _, name := range []string{"ci-RUNNER", "ci-runner", "ci-Runner"} {
		if o := findOutcome(out, name); o.Err != nil || h.current(name) == "" {
			t.Errorf("%s: %v (current key %q), want rotated", name, o.Err, h.current(name))
		}
		if name != "ci-RUNNER" && sinkID(s, name) == sinkID(s, "ci-RUNNER") {
			t.Fatalf("%s renders ci-RUNNER's target", name)
		}
	}
	if asked[dir] != 1 || len(asked) != 1 {
		t.Errorf("directories inspected in one pass of 3 names: %v, want %s once (those above it are named by the template's literal text)", asked, dir)
	}
	h.assertNoSecretLeak()
}

// A name looked up in a directory that folds case may be found without
// regard to case even below it ("/srv/{{.Name}}/env" on a CIFS mount of
// /srv): a directory counts as folding case when it or one above it does.
func TestADirectoryBelowOneThatFoldsCaseCountsAsFolding(t *testing.T) {
	folding := map[string]bool{"/srv": true}
	asked := map[string]int{}
	owners := &targetOwners{claims: newTargetClaims(), foldsCase: func(dir string) bool {
		asked[dir]++
		return folding[dir]
	}}
	s := fileSinkAt(t, "/srv/{{.Name}}/x.env", file.FormatEnv)
	for _, c := range []struct {
		dir  string
		want bool
	}{{"/srv/ci-runner", true}, {"/srv/ci-RUNNER", true}, {"/var/lib/creds", false}, {"/srv", true}} {
		if got := owners.pathFolds(s, c.dir); got != c.want {
			t.Errorf("%s folds case: %v, want %v", c.dir, got, c.want)
		}
	}
	for dir, n := range asked {
		if n != 1 {
			t.Errorf("%s inspected %d times, want once", dir, n)
		}
	}
	lower, folded := owners.targetHash(s, "file:/srv/ci-RUNNER/x.env")
	if same, _ := owners.targetHash(s, "file:/srv/ci-runner/x.env"); !folded || lower != same {
		t.Errorf("targets under /srv differing only in case compared as different")
	}
	if a, folded := owners.targetHash(s, "file:/var/lib/creds/ci-RUNNER.env"); folded || a == owners.hash("file:/var/lib/creds/ci-runner.env") {
		t.Errorf("targets in /var/lib/creds differing only in case compared as one")
	}
}
