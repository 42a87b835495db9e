package rotation

import (
	"context"
	"strings"
	"testing"

	"github.com/rotatord/rotatord/sinks"
	"github.com/rotatord/rotatord/sinks/file"
)

// clashingFileSinks returns two real file sinks of policy ci in one
// directory, "{{.Name}}.env" and "{{.Name}}.docker.env": the first one's
// target for key name "ci-a.docker" is the second one's for "ci-a".
// current returns the current key id on record for a name of policy ci.
func (h *harness) current(name string) string { return h.record(name).CurrentKeyID }

func clashingFileSinks(t *testing.T) (env, docker *file.Sink, dir string) {
	t.Helper()
	dir = t.TempDir()
	return fileSinkAt(t, dir+"/{{.Name}}.env", file.FormatEnv), fileSinkAt(t, dir+"/{{.Name}}.docker.env", file.FormatEnv), dir
}

// clashHarness is a harness whose policy ci (adopt: rotate) delivers to
// clashingFileSinks.
func clashHarness(t *testing.T) (h *harness, env, docker *file.Sink, dir string) {
	t.Helper()
	h = newHarness(t, 0)
	env, docker, dir = clashingFileSinks(t)
	h.policy.Sinks = []sinks.Sink{env, docker}
	h.policy.AdoptRotate = true
	h.newEngine()
	return h, env, docker, dir
}

// Key names are chosen by whoever may create keys. Key ci-a is rotated
// and delivered to both sinks; then someone creates a key named
// "ci-a.docker", whose first sink's target is ci-a's docker file. Its
// rotation must be refused before any key is made, and ci-a's consumer
// keep ci-a's key (found by review: the marker names only the policy, and
// the file was overwritten with the other name's new key).
func TestKeyNameRenderingAnotherNamesTargetIsRefused(t *testing.T) {
	h, _, docker, dir := clashHarness(t)
	h.api.add("ci-a", roleCI)
	h.pass(Options{Force: true})
	victim, err := docker.Read(context.Background(), "ci-a")
	if err != nil {
		t.Fatal(err)
	}

	created := h.api.n
	h.api.add("ci-a.docker", roleCI)
	created++
	for range 2 { // and again, once the failure's backoff is over
		out := h.pass(Options{Force: true, IgnoreBackoff: true})
		o := findOutcome(out, "ci-a.docker")
		if o.Err == nil || !strings.Contains(o.Err.Error(), dir+"/ci-a.docker.env") || !strings.Contains(o.Err.Error(), `"ci-a"`) {
			t.Errorf("ci-a.docker: %v, want an error naming the target and key name ci-a", o.Err)
		}
	}
	if got, err := docker.Read(context.Background(), "ci-a"); err != nil || got.KeyID != h.current("ci-a") {
		t.Errorf("ci-a's file holds %s (err %v), want ci-a's current key %s (before: %s)", got.KeyID, err, h.current("ci-a"), victim.KeyID)
	}
	if len(h.api.live("ci-a.docker")) != 1 || h.api.n != created+2 { // ci-a rotated twice more, ci-a.docker never
		t.Errorf("keys created: %d, want ci-a's two rotations only; ci-a.docker has %v", h.api.n-created, h.api.live("ci-a.docker"))
	}
	h.assertNoSecretLeak()
}

// Two new names that clash, in the same pass, with no record yet: the
// first one handled claims the target, the second is refused.
func TestTwoNewKeyNamesWithOneTargetInOnePass(t *testing.T) {
	h, _, docker, _ := clashHarness(t)
	h.api.add("ci-a", roleCI)
	h.api.add("ci-a.docker", roleCI)
	out := h.pass(Options{Force: true})
	a, b := findOutcome(out, "ci-a"), findOutcome(out, "ci-a.docker")
	if (a.Err == nil) == (b.Err == nil) {
		t.Fatalf("ci-a: %v; ci-a.docker: %v; want exactly one refused", a.Err, b.Err)
	}
	got, err := docker.Read(context.Background(), "ci-a")
	if a.Err == nil && (err != nil || got.KeyID != h.current("ci-a")) {
		t.Errorf("ci-a's docker file holds %s (err %v), want ci-a's key %s", got.KeyID, err, h.current("ci-a"))
	}
}
