package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// orgKey is a key of /_sim/keys with its organization.
type orgKey struct {
	Key    string `json:"key"`
	Org    string `json:"org"`
	Name   string `json:"name"`
	Secret string `json:"secret"`
	Alive  bool   `json:"alive"`
}

// TestTwoOrganizations runs the real rotatord against the real exosim
// serving two organizations: one policy file, the exoscale block and an
// account "green", each rotating its own organization's ci-runner. Then
// green's credential is revoked (its key deleted): the default account
// goes on rotating, `once` shows its outcomes and fails, and says which
// account failed.
func TestTwoOrganizations(t *testing.T) {
	if testing.Short() || rotatordBin == "" {
		t.Skip("integration test: runs the real binaries; skipped with -short")
	}
	t.Parallel()
	dir := t.TempDir()
	const greenAdminRole, greenCIRole = "9c3a1f0e-5b2d-4e8a-9f61-2d4b8c0a1e01", "9c3a1f0e-5b2d-4e8a-9f61-2d4b8c0a1e02"
	seed := fmt.Sprintf(`roles:
  - {id: %s, name: admin}
  - {id: %s, name: ci}
admin: {name: %s, role: admin}
keys:
  - {name: ci-runner, role: ci}
organizations:
  - name: green
    roles:
      - {id: %s, name: admin}
      - {id: %s, name: ci}
    admin: {name: %s, role: admin}
    keys:
      - {name: ci-runner, role: ci}
`, roleAdmin, roleCI, adminName, greenAdminRole, greenCIRole, adminName)
	writeFile(t, filepath.Join(dir, "seed.yml"), seed, 0o600)
	info := filepath.Join(dir, "exosim.json")
	simCmd := exec.Command(exosimBin, "-listen", "127.0.0.1:0", "-seed", filepath.Join(dir, "seed.yml"), "-info-file", info)
	if err := simCmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = simCmd.Process.Kill(); _ = simCmd.Wait() })
	var in struct {
		URL           string                `json:"url"`
		Endpoint      string                `json:"endpoint"`
		Organizations map[string]credential `json:"organizations"`
		credential
	}
	eventually(t, 20*time.Second, func() (bool, string) {
		b, err := os.ReadFile(info)
		return err == nil && json.Unmarshal(b, &in) == nil && in.URL != "", "exosim info file"
	})
	green := in.Organizations["green"]
	if green.Key == "" {
		t.Fatalf("no green organization in %+v", in)
	}
	s := &sim{t: t, URL: in.URL, Endpoint: in.Endpoint, Admin: in.credential, done: make(chan struct{})}
	keys := func() []orgKey {
		var out []orgKey
		s.do("GET", "/_sim/keys", nil, &out)
		return out
	}
	live := func(org string) []string {
		var ids []string
		for _, k := range keys() {
			if k.Org == org && k.Name == "ci-runner" && k.Alive {
				ids = append(ids, k.Key)
			}
		}
		return ids
	}

	out := filepath.Join(dir, "out")
	if err := os.Mkdir(out, 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "secret"), in.Secret, 0o600)
	writeFile(t, filepath.Join(dir, "green-secret"), green.Secret, 0o600)
	config := filepath.Join(dir, "policy.yml")
	writeFile(t, config, fmt.Sprintf(`exoscale:
  endpoint: %[1]s
  api_key: %[2]s
  api_secret_file: %[3]s/secret
accounts:
  - name: green
    endpoint: %[1]s
    api_key: %[4]s
    api_secret_file: %[3]s/green-secret
state_dir: %[3]s/state
listen: 127.0.0.1:0
policies:
  - name: ci
    match: {name: ci-runner}
    grace_period: 0s
    adopt: rotate
    sinks: [{type: file, path: "%[3]s/out/{{.Name}}.json"}]
  - name: green-ci
    account: green
    match: {name: ci-runner}
    grace_period: 0s
    adopt: rotate
    sinks: [{type: file, path: "%[3]s/out/green-{{.Name}}.json"}]
`, in.Endpoint, in.Key, dir, green.Key), 0o600)
	e := &env{t: t, dir: dir, config: config, logs: filepath.Join(dir, "logs"), out: out}
	if err := os.Mkdir(e.logs, 0o700); err != nil {
		t.Fatal(err)
	}

	before := map[string][]string{"default": live("default"), "green": live("green")}
	r := e.rotatord("once", "--force")
	if r.code != 0 {
		t.Fatalf("once --force: %s", r)
	}
	for org, sink := range map[string]string{"default": "ci-runner.json", "green": "green-ci-runner.json"} {
		now := live(org)
		held, ok := readSink(t, filepath.Join(out, sink), "json")
		if len(now) != 1 || now[0] == before[org][0] || !ok || held.Key != now[0] {
			t.Errorf("%s: ci-runner live %v (was %v), sink %s holds %v", org, now, before[org], sink, held.Key)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "state", "accounts", "green", "records")); err != nil {
		t.Errorf("green's state directory: %v", err)
	}

	// green's credential revoked.
	s.do("DELETE", "/_sim/keys/"+green.Key, nil, nil)
	prev := live("default")
	r = e.rotatord("once", "--force")
	if r.code == 0 {
		t.Errorf("once with green's credential revoked exited 0\n%s", r)
	}
	if !strings.Contains(r.stderr, "green") {
		t.Errorf("once does not say which account failed\n%s", r)
	}
	if now := live("default"); len(now) != 1 || now[0] == prev[0] {
		t.Errorf("default: ci-runner live %v (was %v): the default account stopped rotating", now, prev)
	}
	if !strings.Contains(r.stdout, "ci-runner") {
		t.Errorf("once shows no outcome of the default account\n%s", r)
	}
	for _, k := range keys() {
		for _, f := range []string{r.stdout, r.stderr} {
			if k.Secret != "" && strings.Contains(f, k.Secret) {
				t.Errorf("the secret of %s is in rotatord's output", k.Key)
			}
		}
	}
}
