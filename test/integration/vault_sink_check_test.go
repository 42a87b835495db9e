package integration

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestVaultSinkCheck: with sink_check, a Vault secret whose latest
// version was deleted by hand gets the current key back from the file
// sink at the next pass (no new key); with the secret's metadata deleted
// and the file removed too, nothing can give it back and the name rotates.
func TestVaultSinkCheck(t *testing.T) {
	t.Parallel()
	v := startVault(t)
	e := newEnv(t)
	e.writePolicy(`  - name: ci
    match: {name: ci-runner}
    grace_period: 0s
    sink_check: 1s
    sinks:
      - {type: file, path: "$OUT/{{.Name}}.json"}
` + v.sink())
	e.mustRun("once", "--force")
	key := e.sim.only("ci-runner").Key
	if got, _, ok := v.held(t, "ci-runner"); !ok || got.Key != key {
		t.Fatalf("Vault holds %s (%v) after the rotation, want %s", got.Key, ok, key)
	}

	v.srv.Root(t, http.MethodDelete, "secret/data/rotatord/ci-runner", nil, nil) // the latest version, soft
	if _, _, ok := v.held(t, "ci-runner"); ok {
		t.Fatal("Vault still holds the secret after its deletion")
	}
	time.Sleep(1100 * time.Millisecond) // past sink_check since the delivery
	r := e.mustRun("once")
	got, _, ok := v.held(t, "ci-runner")
	if !ok || got.Key != key {
		t.Fatalf("Vault holds %s (%v) after once, want the current key %s given back\n%s", got.Key, ok, key, r)
	}
	if !e.sim.authenticates(got.Key, got.Secret) {
		t.Error("the credential given back to Vault does not authenticate")
	}
	if n := createdNamed(e, "ci-runner"); n != 2 {
		t.Errorf("%d keys named ci-runner ever existed, want 2: Vault was refilled from the file", n)
	}
	noLeak(t, "rotatord's output", r.stdout+r.stderr, got.Secret)

	v.srv.Root(t, http.MethodDelete, "secret/metadata/rotatord/ci-runner", nil, nil) // every version
	if err := os.Remove(filepath.Join(e.out, "ci-runner.json")); err != nil {
		t.Fatal(err)
	}
	r = e.mustRun("once")
	fresh := e.sim.only("ci-runner").Key
	if fresh == key {
		t.Fatalf("both sinks emptied: no new key\n%s", r)
	}
	if got, _, ok := v.held(t, "ci-runner"); !ok || got.Key != fresh {
		t.Errorf("Vault holds %s (%v), want the new key %s", got.Key, ok, fresh)
	}
	if f := e.checkSink(filepath.Join(e.out, "ci-runner.json"), "json", "ci-runner", 0o600); f != fresh {
		t.Errorf("file holds %s, want the new key %s", f, fresh)
	}
	e.sim.checkMaxLive(2, "ci-runner")
}
