package integration

import (
	"net/http"
	"testing"
)

// A KV v2 mount with delete_version_after (versions expire on their own)
// gives every version a deletion_time in the future, and serves it until
// then. rotatord must take the version it wrote as held: read as deleted,
// the read back failed and the new key, which Vault held and consumers
// read, was rolled back (deleted) at every rotation.
func TestVaultRotatesIntoAMountWithDeleteVersionAfter(t *testing.T) {
	t.Parallel()
	v := startVault(t)
	v.srv.Root(t, http.MethodPost, "secret/config", map[string]any{"delete_version_after": "24h"}, nil)
	e := newEnv(t)
	e.writePolicy(`  - name: ci
    match: {name: ci-runner}
    grace_period: 0s
    sinks:
` + v.sink())
	old := e.sim.only("ci-runner")

	r := e.rotatord("once", "--force")

	got, _, ok := v.held(t, "ci-runner")
	if !ok {
		t.Fatalf("Vault holds nothing\n%s", r)
	}
	if k, _ := e.sim.key(got.Key); !k.Alive || !e.sim.authenticates(got.Key, got.Secret) {
		t.Errorf("Vault holds key %s, which is not alive: its consumers are cut off\n%s", got.Key, r)
	}
	if r.code != 0 {
		t.Fatalf("once exited %d\n%s", r.code, r)
	}
	if live := e.sim.only("ci-runner"); live.Key == old.Key || live.Key != got.Key {
		t.Errorf("live key %s, Vault holds %s, old key %s: want the new key in both", live.Key, got.Key, old.Key)
	}
	noLeak(t, "rotatord's output", r.stdout+r.stderr, got.Secret)
}
