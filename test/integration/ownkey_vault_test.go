package integration

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// ownVaultConfig is a policy file whose credential lives in Vault at
// secret/rotatord/<admin name>, with own_key set to ownKey.
func ownVaultConfig(e *env, v *vaultEnv, ownKey, policies string) string {
	return fmt.Sprintf(`exoscale:
  endpoint: %s
  timeout: 10s
  credential_from: vault
  credential_vault:
    address: %s
    path: rotatord/%s
    auth:
      method: token
      token_file: %s
  own_key: %s
state_dir: %s
listen: 127.0.0.1:0
policies:
%s`, e.sim.Endpoint, v.srv.Addr, adminName, v.tokenFile, ownKey, e.stateDir, strings.ReplaceAll(policies, "$OUT", e.out))
}

// TestOwnKeyVault: rotatord reads its credential from a Vault KV v2 secret
// an operator seeded with api_key and api_secret only, and rotates it:
// `once --force --policy _self` writes a new key of the admin's name there
// (a new version, with rotatord's fields) that authenticates, keeps the old
// key through the grace period and deletes it after; later processes read
// the new key from Vault and work with it (the old one being gone), a ci
// rotation included; and no secret nor the Vault token shows in any output
// or state file.
func TestOwnKeyVault(t *testing.T) {
	t.Parallel()
	v := startVault(t)
	o := &ownEnv{env: newEnv(t)}
	e := o.env
	old := e.sim.Admin
	v.srv.Root(t, http.MethodPost, "secret/data/rotatord/"+adminName, map[string]any{
		"data": map[string]string{"api_key": old.Key, "api_secret": old.Secret},
	}, nil)
	writeFileAtomic(t, e.config, ownVaultConfig(e, v, `{schedule: "@every 1h", max_age: 30d, grace_period: 3s}`, ownQuietPolicy))

	// The seeded credential works: plan and once read it from Vault.
	r := e.mustRun("once")
	if got := row(t, parseTable(t, r.stdout), adminName); got["POLICY"] != selfPolicy || got["ACTION"] != "none" {
		t.Errorf("once: row %v, want policy %s and no action", got, selfPolicy)
	}

	r = e.mustRun("once", "--force", "--policy", selfPolicy)
	got := row(t, parseTable(t, r.stdout), adminName)
	if got["POLICY"] != selfPolicy || got["ACTION"] != "rotate" || got["ERROR"] != "-" {
		t.Errorf("once --force: row %v, want policy %s rotated without error\n%s", got, selfPolicy, r)
	}
	rotated := time.Now()
	held, version, ok := v.held(t, adminName)
	if !ok {
		t.Fatalf("Vault holds nothing at secret/rotatord/%s\n%s", adminName, r)
	}
	if held.Key == old.Key || version != 2 {
		t.Errorf("Vault holds %s at version %d, want a new key at version 2", held.Key, version)
	}
	k, known := e.sim.key(held.Key)
	if !known || !k.Alive || k.Name != adminName || k.RoleID != roleAdmin {
		t.Errorf("Vault holds %s (%+v known %v), want a live key named %s of role admin", held.Key, k, known, adminName)
	}
	if !e.sim.authenticates(held.Key, held.Secret) {
		t.Error("the credential in Vault does not authenticate")
	}
	if _, ok := findLog(r.logs(), "delivered", "policy", selfPolicy, "name", adminName, "target", "vault:secret/rotatord/"+adminName); !ok {
		t.Errorf("no delivery to Vault logged\n%s", r)
	}
	if _, ok := findLog(r.logs(), "signing with the new key", "policy", selfPolicy, "key_id", held.Key); !ok {
		t.Errorf("no switch to the new key logged\n%s", r)
	}
	// The grace period: both keys live and work.
	if time.Since(rotated) < 2*time.Second {
		if k, _ := e.sim.key(old.Key); !k.Alive || !e.sim.authenticates(old.Key, old.Secret) {
			t.Error("the old own key is gone during its grace period")
		}
	}
	if live := e.sim.live(adminName); len(live) != 2 {
		t.Errorf("%s: live keys %v right after the rotation, want the old and the new one", adminName, ids(live))
	}

	// A new process, after the grace period: it reads the new key from
	// Vault and deletes the old one.
	time.Sleep(time.Until(rotated.Add(3500 * time.Millisecond)))
	r = e.mustRun("once")
	checkNoAuthErrors(t, "once after the grace period", r.logs())
	if _, ok := findLog(r.logs(), "old key deleted", "policy", selfPolicy, "key_id", old.Key); !ok {
		t.Errorf("the old own key was not deleted after its grace period\n%s", r)
	}
	if k, _ := e.sim.key(old.Key); k.Alive || e.sim.authenticates(old.Key, old.Secret) {
		t.Errorf("old own key %s still alive after its grace period", old.Key)
	}
	if live := e.sim.only(adminName); live.Key != held.Key {
		t.Errorf("%s: live key %s, Vault holds %s", adminName, live.Key, held.Key)
	}

	// And again: only the key in Vault can sign now. The daemon reads it,
	// rotates ci-runner with it, and leaves the own key alone.
	before := e.sim.only("ci-runner")
	d := e.startDaemon()
	d.waitLog(20*time.Second, "pass done")
	d.stop()
	checkNoAuthErrors(t, "run", d.logs())
	r = e.mustRun("once", "--force", "--policy", "ci")
	checkNoAuthErrors(t, "once --force --policy ci", r.logs())
	if got := row(t, parseTable(t, r.stdout), "ci-runner"); got["ACTION"] != "rotate" || got["ERROR"] != "-" {
		t.Errorf("ci-runner: row %v, want a rotation without error\n%s", got, r)
	}
	if after := e.checkSink(e.out+"/ci-runner.json", "json", "ci-runner", 0o600); after == before.Key {
		t.Errorf("ci-runner not rotated")
	}
	final, version, _ := v.held(t, adminName)
	if final.Key != held.Key || version != 2 {
		t.Errorf("Vault holds %s version %d, want %s version 2 (no other own rotation)", final.Key, version, held.Key)
	}
	if live := e.sim.only(adminName); live.Key != final.Key || !e.sim.authenticates(final.Key, final.Secret) {
		t.Errorf("%s: live key %s, Vault holds %s", adminName, live.Key, final.Key)
	}
	e.sim.checkMaxLive(2, adminName)

	var outputs strings.Builder
	names, _ := readDirNames(e.logs)
	for _, n := range names {
		outputs.WriteString(readFile(t, e.logs+"/"+n))
	}
	noLeak(t, "rotatord's output", outputs.String())
	o.checkNoSecretLeak()

}
