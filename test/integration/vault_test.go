package integration

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rotatord/rotatord/sinks/vault/vaulttest"
)

// vaultTokenID is the id of the token rotatord uses in these tests: fixed,
// so that it can be created again in a restarted (empty) dev server.
const vaultTokenID = "rotatord-integration-token"

const vaultPolicy = `
path "secret/data/rotatord/*" { capabilities = ["create", "read", "update"] }
path "secret/metadata/rotatord/*" { capabilities = ["create", "read", "update"] }
`

// vaultEnv is the Vault dev server the subtests of TestVault share: one
// server for the package, not one per test.
type vaultEnv struct {
	t         *testing.T
	srv       *vaulttest.Server
	tokenFile string
}

// startVault runs a Vault dev server for the test, or skips it (fails it
// when ROTATORD_REQUIRE_VAULT=1).
func startVault(t *testing.T) *vaultEnv {
	t.Helper()
	if testing.Short() || rotatordBin == "" {
		t.Skip("integration test: runs the real binaries; skipped with -short")
	}
	bin, reason := vaulttest.Find()
	if bin == "" {
		if vaulttest.Required() {
			t.Fatalf("%s=1 but %s", vaulttest.EnvRequire, reason)
		}
		t.Skip(reason)
	}
	dir := t.TempDir()
	srv, err := vaulttest.Start(bin, dir)
	if err != nil {
		t.Fatalf("vault: %v", err)
	}
	t.Cleanup(srv.Stop)
	v := &vaultEnv{t: t, srv: srv, tokenFile: filepath.Join(dir, "vault-token")}
	writeFile(t, v.tokenFile, vaultTokenID+"\n", 0o600)
	v.configure()
	return v
}

// configure gives a fresh server the policy and the token.
func (v *vaultEnv) configure() {
	v.t.Helper()
	v.srv.Root(v.t, http.MethodPost, "sys/policies/acl/rotatord", map[string]any{"policy": vaultPolicy}, nil)
	v.srv.Root(v.t, http.MethodPost, "auth/token/create", map[string]any{
		"id": vaultTokenID, "policies": []string{"rotatord"}, "ttl": "1h",
	}, nil)
}

// restart replaces a stopped server by a new, empty one at the same address.
func (v *vaultEnv) restart() {
	v.t.Helper()
	if err := v.srv.Restart(); err != nil {
		v.t.Fatalf("restart vault: %v", err)
	}
	v.configure()
}

// sink is the policy-file entry of a vault sink on this server.
func (v *vaultEnv) sink() string {
	return fmt.Sprintf(`      - type: vault
        address: %s
        path: "rotatord/{{.Name}}"
        auth:
          method: token
          token_file: %s
`, v.srv.Addr, v.tokenFile)
}

// held reads the credential Vault holds for name (as root); ok is false
// when there is none.
func (v *vaultEnv) held(t *testing.T, name string) (c credential, version int, ok bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out struct {
		Data struct {
			Data     map[string]string `json:"data"`
			Metadata struct {
				Version int `json:"version"`
			} `json:"metadata"`
		} `json:"data"`
	}
	err := v.srv.Do(ctx, vaulttest.RootToken, http.MethodGet, "secret/data/rotatord/"+name, nil, &out)
	if vaulttest.IsStatus(err, http.StatusNotFound) {
		return credential{}, 0, false
	}
	if err != nil {
		t.Fatalf("read secret/rotatord/%s: %v", name, err)
	}
	d := out.Data.Data
	if d["name"] != name || d["role_id"] == "" || d["created_at"] == "" {
		t.Errorf("secret/rotatord/%s: fields %v", name, keysOf(d))
	}
	if _, err := time.Parse(time.RFC3339, d["created_at"]); err != nil {
		t.Errorf("secret/rotatord/%s: created_at: %v", name, err)
	}
	return credential{Key: d["api_key"], Secret: d["api_secret"]}, out.Data.Metadata.Version, true
}

func keysOf(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// noLeak fails the test if rotatord's output holds a secret or the token.
func noLeak(t *testing.T, what, text string, secrets ...string) {
	t.Helper()
	for _, s := range append(secrets, vaultTokenID) {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("%s leaks a secret or the Vault token", what)
		}
	}
}

// TestVault runs rotatord against a real Vault: subtests share the server
// and run in order (the later ones stop it).
func TestVault(t *testing.T) {
	t.Parallel()
	v := startVault(t)

	// `once --force` delivers to Vault and to a file, then deletes the old key.
	t.Run("once delivers", func(t *testing.T) {
		e := newEnv(t)
		e.writePolicy(`  - name: ci
    match: {name: ci-runner}
    grace_period: 0s
    sinks:
      - {type: file, path: "$OUT/{{.Name}}.json"}
` + v.sink())
		old := e.sim.only("ci-runner")

		r := e.mustRun("once", "--force")

		live := e.sim.only("ci-runner")
		if live.Key == old.Key {
			t.Fatal("no rotation: the old key is the only live one")
		}
		got, version, ok := v.held(t, "ci-runner")
		if !ok {
			t.Fatalf("Vault holds nothing at secret/rotatord/ci-runner\n%s", r)
		}
		if got.Key != live.Key || version != 1 {
			t.Errorf("Vault holds %s version %d, want the live key %s version 1", got.Key, version, live.Key)
		}
		if !e.sim.authenticates(got.Key, got.Secret) {
			t.Error("the credential in Vault does not authenticate")
		}
		if k, _ := e.sim.key(old.Key); k.Alive {
			t.Errorf("old key %s still alive after a rotation with grace 0", old.Key)
		}
		if f := e.checkSink(filepath.Join(e.out, "ci-runner.json"), "json", "ci-runner", 0o600); f != live.Key {
			t.Errorf("file sink holds %s, want %s", f, live.Key)
		}
		if _, ok := findLog(r.logs(), "delivered", "name", "ci-runner", "sink", "vault#1", "target", "vault:secret/rotatord/ci-runner"); !ok {
			t.Errorf("no delivery log for the vault sink\n%s", r)
		}
		noLeak(t, "rotatord's output", r.stdout+r.stderr, got.Secret, live.Secret)
		e.sim.checkMaxLive(2, "ci-runner")

		// The next rotation writes version 2 of the same secret.
		r = e.mustRun("once", "--force")
		if got2, version, _ := v.held(t, "ci-runner"); got2.Key != e.sim.only("ci-runner").Key || version != 2 {
			t.Errorf("second rotation: Vault holds %s version %d, want the live key at version 2", got2.Key, version)
		}
		noLeak(t, "rotatord's output", r.stdout+r.stderr, got.Secret)
	})

	// Vault dies while the key is being created (between the probe and the
	// write): the write fails before the secret is sent, and is counted;
	// the new key, made by this process moments ago, is in no sink and is
	// deleted at once, while Vault is still down; once Vault is back a
	// forced pass delivers.
	t.Run("Vault stops mid-rotation", func(t *testing.T) {
		// An empty Vault: the write is a first one, which marks the path
		// before it sends the data, so Vault down fails it before the
		// secret is sent. (A path rotatord already marked, as the
		// subtests before leave it, goes straight to the data request,
		// whose failure may follow an attempt that reached Vault: that
		// key is rightly kept.)
		v.restart()
		e := newEnv(t)
		e.writePolicy(`  - name: ci
    match: {name: ci-runner}
    grace_period: 0s
    adopt: rotate
    sinks:
` + v.sink())
		old := e.sim.only("ci-runner")
		// The create takes long enough for Vault to be down before the
		// write starts.
		e.sim.setFaults(`{"create-api-key": {"latency": "7s"}}`)

		d := e.startDaemon()
		d.waitLog(30*time.Second, "rotation started", "name", "ci-runner")
		v.srv.Stop()
		d.waitLog(30*time.Second, "sink write failed", "name", "ci-runner", "sink", "vault#0")
		d.waitMetric(`rotatord_sink_writes_total{account="default",policy="ci",result="failure",sink="vault#0"}`, 1, 10*time.Second)
		d.waitMetric(`rotatord_rotations_total{account="default",policy="ci",result="failure"}`, 1, 10*time.Second)
		d.stop()

		l, _ := findLog(d.logs(), "sink write failed", "name", "ci-runner")
		errText := l.str("error")
		for _, want := range []string{"write secret/rotatord/ci-runner", "connection refused"} {
			if !strings.Contains(errText, want) {
				t.Errorf("sink error %q does not mention %q", errText, want)
			}
		}
		if k, _ := e.sim.key(old.Key); !k.Alive {
			t.Fatal("old key deleted although the delivery failed")
		}
		if _, ok := findLog(d.logs(), "rolled back: the write failed before sending the secret; new key deleted, old key kept", "name", "ci-runner"); !ok {
			t.Error("no roll back logged while Vault is down")
		}
		if live := e.sim.live("ci-runner"); len(live) != 1 || live[0].Key != old.Key {
			t.Fatalf("live keys %v while Vault is down, want only the old key %s", ids(live), old.Key)
		}
		for _, k := range e.sim.keys() {
			if k.Name == "ci-runner" && k.Key != old.Key {
				noLeak(t, "rotatord's logs", d.stderr(), k.Secret)
			}
		}

		// Vault is back (empty: a dev server): nothing to roll back; a
		// forced pass delivers.
		e.sim.clearFaults()
		v.restart()
		if _, _, ok := v.held(t, "ci-runner"); ok {
			t.Error("Vault holds a credential although none was delivered")
		}
		r := e.mustRun("once", "--force")
		final := e.sim.only("ci-runner")
		got, _, ok := v.held(t, "ci-runner")
		if !ok || got.Key != final.Key || final.Key == old.Key || !e.sim.authenticates(got.Key, got.Secret) {
			t.Errorf("after Vault came back: Vault holds %q (ok %v), the live key is %s, the old one %s\n%s",
				got.Key, ok, final.Key, old.Key, r)
		}
		e.sim.checkMaxLive(2, "ci-runner")
		noLeak(t, "rotatord's output", r.stdout+r.stderr, got.Secret)
	})

	// Vault is down before the run: the probe fails, so no key is created
	// and the old one stays.
	t.Run("Vault stopped before the run", func(t *testing.T) {
		e := newEnv(t)
		e.writePolicy(`  - name: ci
    match: {name: ci-runner}
    grace_period: 0s
    sinks:
      - {type: file, path: "$OUT/{{.Name}}.json"}
` + v.sink())
		old := e.sim.only("ci-runner")
		v.srv.Stop()

		r := e.rotatord("once", "--force")
		if r.code == 0 {
			t.Fatalf("once with Vault down exited 0\n%s", r)
		}
		l, ok := findLog(r.logs(), "rotation failed", "name", "ci-runner")
		if !ok {
			t.Fatalf("no rotation failure logged\n%s", r)
		}
		for _, want := range []string{"sink vault#1", "probe secret/rotatord/ci-runner", "connection refused"} {
			if !strings.Contains(l.str("error"), want) {
				t.Errorf("error %q does not mention %q", l.str("error"), want)
			}
		}
		if got := e.sim.only("ci-runner"); got.Key != old.Key {
			t.Errorf("live key %s, want the old key %s", got.Key, old.Key)
		}
		if n := e.sim.calls()["create-api-key"].Total; n != 0 {
			t.Errorf("%d create calls with a sink that cannot be written, want 0", n)
		}
		if _, err := os.Stat(filepath.Join(e.out, "ci-runner.json")); !os.IsNotExist(err) {
			t.Errorf("file sink written although the rotation failed its probe: %v", err)
		}
		noLeak(t, "rotatord's output", r.stdout+r.stderr)
	})
}
