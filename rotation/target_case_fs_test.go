package rotation

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rotatord/rotatord/sinks"
	"github.com/rotatord/rotatord/sinks/file"
)

// caseFileSink is a file sink writing dir/{{.Name}}.env for policy ci.
func caseFileSink(t *testing.T, dir string) *file.Sink {
	t.Helper()
	return fileSinkAt(t, dir+"/{{.Name}}.env", file.FormatEnv)
}

// caseHarness is a harness whose policy ci adopts and has one file sink,
// caseFileSink(t, dir), and that sink.
func caseHarness(t *testing.T, dir string) (*harness, *file.Sink) {
	t.Helper()
	h := newHarness(t, 0)
	s := caseFileSink(t, dir)
	h.policy.Sinks = []sinks.Sink{s}
	h.policy.AdoptRotate = true
	h.newEngine()
	return h, s
}

// upperFirst adds ci-RUNNER first, as an impostor would, has a forced pass
// manage it, then adds ci-runner.
func (h *harness) upperFirst() {
	h.api.add("ci-RUNNER", roleCI)
	h.pass(Options{Force: true})
	h.api.add("ci-runner", roleCI)
}

// On a case-sensitive file system (ext4, xfs, tmpfs: a test's temp
// directory) ci-runner.env and ci-RUNNER.env are two files: a key named
// ci-RUNNER, made before ci-runner is first managed, must not keep
// ci-runner from rotating, and both names get a file of their own. (File
// targets were compared without regard to case whatever the directory.)
func TestNamesDifferingOnlyInCaseRotateIntoTwoFilesOnACaseSensitiveFileSystem(t *testing.T) {
	dir := t.TempDir()
	h, s := caseHarness(t, dir)
	if s.FoldsCase(dir) {
		t.Skipf("the temp directory %s is on a file system that folds case, or one not known to tell case apart", dir)
	}
	h.upperFirst()

	for range 2 {
		out := h.pass(Options{Force: true, IgnoreBackoff: true})
		for _, name := range []string{"ci-runner", "ci-RUNNER"} {
			if o := findOutcome(out, name); o.Err != nil {
				t.Errorf("%s: %v, want rotated", name, o.Err)
			}
		}
	}
	for _, name := range []string{"ci-runner", "ci-RUNNER"} {
		b, err := os.ReadFile(filepath.Join(dir, name+".env"))
		if err != nil {
			t.Fatal(err)
		}
		if cur := h.current(name); cur == "" || !strings.Contains(string(b), cur) {
			t.Errorf("%s.env does not hold %s's current key %q", name, name, cur)
		}
	}
	h.assertNoSecretLeak()
}

// Only the directories a name's case can reach matter: in
// "<dir>/{{.Name}}.env" every directory above <dir> is looked up by the
// template's literal text, the same for every name. A root file system
// that cannot be told apart from one folding case (ZFS, NFS, a FUSE
// overlay in a rootless container), or an ancestor rotatord may search but
// not read, must not make ci-RUNNER keep ci-runner from rotating in a
// directory that tells case apart.
func TestAFoldingDirectoryAboveTheTemplatesLiteralDirectoryDoesNotFoldItsTargets(t *testing.T) {
	dir := t.TempDir()
	h, _ := caseHarness(t, dir)
	asked := map[string]int{}
	h.engine.dirFoldsCase = func(d string) bool {
		asked[d]++
		return d != dir // every directory above dir folds (or cannot be told)
	}
	h.upperFirst()
	out := h.pass(Options{Force: true, IgnoreBackoff: true})
	for _, name := range []string{"ci-runner", "ci-RUNNER"} {
		if o := findOutcome(out, name); o.Err != nil {
			t.Errorf("%s: %v, want rotated", name, o.Err)
		}
	}
	if asked["/"] != 0 || asked[filepath.Dir(dir)] != 0 {
		t.Errorf("directories inspected: %v, want only %s", asked, dir)
	}
	h.assertNoSecretLeak()
}

// Two sinks whose path templates name different literal directories can
// render targets that differ only in case above one of them: with /X
// folding case, "/X/{{.Name}}/x" for ci-runner and "/X/CI-RUNNER/{{slice
// .Name 3}}" for ci-x are one file. Whether /X folds must decide both
// targets, though /X is above the second sink's literal directory.
func TestTargetsOfSinksWithDifferentLiteralDirectoriesMeetInAFoldingDirectory(t *testing.T) {
	h := newHarness(t, 0)
	dir := t.TempDir()
	for _, d := range []string{"ci-runner", "ci-x", "CI-RUNNER"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	h.policy.Sinks = []sinks.Sink{fileSinkAt(t, dir+"/{{.Name}}/x", file.FormatEnv), fileSinkAt(t, dir+"/CI-RUNNER/{{slice .Name 3}}", file.FormatEnv)}
	h.policy.AdoptRotate = true
	h.newEngine()
	h.engine.dirFoldsCase = func(d string) bool { return d == dir }
	h.api.add("ci-runner", roleCI)
	h.pass(Options{Force: true})
	h.api.add("ci-x", roleCI)
	out := h.pass(Options{Force: true, IgnoreBackoff: true})
	if o := findOutcome(out, "ci-x"); o.Err == nil || !strings.Contains(o.Err.Error(), `"ci-runner"`) {
		t.Errorf("ci-x: %v, want refused: its target %s/CI-RUNNER/x is ci-runner's %s/ci-runner/x where %s folds case", o.Err, dir, dir, dir)
	}
}

// The own key's credential store (a file rotatord's sinks refuse to
// write, never compared with other targets) does not move the directory
// the walk up stops at: a store in /etc/rotatord beside sinks under /srv
// would otherwise make every directory up to "/" decide.
func TestTheOwnKeysStoreDoesNotWidenTheDirectoriesInspected(t *testing.T) {
	sinkDir, storeDir := "/srv/creds", "/etc/rotatord"
	var self SelfCredential = struct{ SelfCredential }{}
	policies := []Policy{
		{Name: "ci", Sinks: []sinks.Sink{caseFileSink(t, sinkDir)}},
		{Name: "_self", Sinks: []sinks.Sink{caseFileSink(t, storeDir)}, Self: self},
	}
	if got := commonLiteralDir(policies); got != sinkDir {
		t.Errorf("walk up stops at %q, want %q", got, sinkDir)
	}
	policies = append(policies, Policy{Name: "b", Sinks: []sinks.Sink{caseFileSink(t, "/srv/Creds2")}})
	if got := commonLiteralDir(policies); got != "/srv" {
		t.Errorf("with a sink under /srv/Creds2: walk up stops at %q, want /srv", got)
	}
}
