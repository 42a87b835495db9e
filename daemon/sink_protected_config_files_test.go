package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rotatord/rotatord/apiclient/exosim"
	"github.com/rotatord/rotatord/apiclient/exosim/exosimtest"
	"github.com/rotatord/rotatord/rotation"
	"github.com/rotatord/rotatord/sinks/file"
)

// As TestTemplatedSinkNeverWritesRotatordsOwnFiles, for the other files
// rotatord reads to work: the policy file itself, a Vault sink's token
// file and a webhook's key file. A file sink with take_over whose path
// template renders one of them for a name someone chose ("rotatord.yml":
// a dot is a name character) replaced it with a credential: the next
// reload or start read a credential as the policy, Vault refused the
// token, every webhook signature changed. Each such rotation fails before
// any key is made, and the files stay as they were.
func TestTemplatedSinkNeverWritesRotatordsConfigFiles(t *testing.T) {
	names := []string{"rotatord.yml", "vault-token", "hook-key"}
	seed := exosim.DefaultSeed()
	for _, n := range names {
		seed.Keys = append(seed.Keys, exosim.SeedKey{Name: n, Role: "ci"})
	}
	sim := exosimtest.NewServer(t, seed)
	dir := t.TempDir()
	admin := sim.Admin()
	cred, _ := json.Marshal(map[string]string{"api_key": admin.Key, "api_secret": admin.Secret})
	if err := os.WriteFile(filepath.Join(dir, "credential.json"), cred, 0o600); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"vault-token": "hvs.a-token-rotatord-reads\n",
		"hook-key":    "a-webhook-key-rotatord-signs-with\n",
	}
	for n, content := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	config := filepath.Join(dir, "rotatord.yml")
	body := fmt.Sprintf(`exoscale:
  endpoint: %s
  credential_file: credential.json
  max_retries: 0
  own_key: {max_age: 720h, grace_period: 1h, schedule: "@every 1h"}
state_dir: state
listen: 127.0.0.1:0
policies:
  - name: ci
    match: {name: "*"}
    adopt: rotate
    sinks: [{type: file, path: "{{.Name}}", format: env, take_over: true}]
    hooks:
      - event: on_failure
        webhook: {url: "https://hooks.invalid/rotatord", key_file: hook-key}
  - name: vault
    match: {name: "never-*"}
    sinks:
      - type: vault
        address: http://127.0.0.1:1
        path: "exoscale/{{.Name}}"
        auth: {token_file: vault-token}
`, sim.Endpoint)
	if err := os.WriteFile(config, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	files["rotatord.yml"] = body
	e := &selfEnv{t: t, sim: sim, dir: dir, config: config}
	d := e.open()
	defer d.Close()
	out, err := d.RunPass(context.Background(), []string{"ci"}, rotation.Options{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	checkProtectedRotations(t, sim, out, names, dir, files)
}

// checkProtectedRotations checks the outcomes of a pass whose file sink
// renders names (each a file in dir) onto files rotatord reads: each such
// rotation failed with file.ErrProtected, each file still holds what it
// held (files), and each name keeps its one old key.
func checkProtectedRotations(t *testing.T, sim *exosim.Server, out []rotation.Outcome, names []string, dir string, files map[string]string) {
	t.Helper()
	seen := 0
	for _, o := range out {
		if !slices.Contains(names, o.Name) {
			continue // the seed's other keys
		}
		seen++
		if o.Err == nil || !strings.Contains(o.Err.Error(), file.ErrProtected.Error()) {
			t.Errorf("%s/%s: error %v, want one saying %q", o.Policy, o.Name, o.Err, file.ErrProtected)
		}
	}
	if seen != len(names) {
		t.Errorf("outcomes %+v, want one for each of %v", out, names)
	}
	for n, want := range files {
		if got, err := os.ReadFile(filepath.Join(dir, n)); err != nil || string(got) != want {
			t.Errorf("%s was replaced: %q, %v", n, got, err)
		}
	}
	for _, name := range names {
		n := 0
		for _, k := range sim.Keys() {
			if k.Name == name && k.Alive {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d live keys named %s, want the old one only", n, name)
		}
	}
}
