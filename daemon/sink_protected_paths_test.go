package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rotatord/rotatord/apiclient/exosim"
	"github.com/rotatord/rotatord/apiclient/exosim/exosimtest"
	"github.com/rotatord/rotatord/rotation"
	"github.com/rotatord/rotatord/sinks/file"
)

// Issue #13: a file sink's path template with take_over renders, for a key
// someone named "credential", rotatord's own credential file. validate
// only compares literal sink paths with it, so the sink used to replace
// the key rotatord signs with (a restart then signed with the ci key, and
// the admin key lived on, held by nobody). A name that renders a path
// inside the state directory is refused the same way. Each such rotation
// fails with a clear error before any key is made, and the old key stays.
func TestTemplatedSinkNeverWritesRotatordsOwnFiles(t *testing.T) {
	seed := exosim.DefaultSeed()
	seed.Keys = append(seed.Keys, exosim.SeedKey{Name: "credential", Role: "ci"}, exosim.SeedKey{Name: "state", Role: "ci"})
	sim := exosimtest.NewServer(t, seed)
	dir := t.TempDir()
	admin := sim.Admin()
	cred, _ := json.Marshal(map[string]string{"api_key": admin.Key, "api_secret": admin.Secret})
	credPath := filepath.Join(dir, "credential.json")
	if err := os.WriteFile(credPath, cred, 0o600); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "rotatord.yml")
	body := fmt.Sprintf(`exoscale:
  endpoint: %s
  credential_file: credential.json
  rate_limit: 1000
  max_retries: 0
  own_key: {max_age: 720h, grace_period: 1h, schedule: "@every 1h"}
state_dir: state
listen: 127.0.0.1:0
policies:
  - name: creds
    match: {name: "credential"}
    adopt: rotate
    sinks: [{type: file, path: "{{.Name}}.json", take_over: true}]
  - name: journal
    match: {name: "state"}
    adopt: rotate
    sinks: [{type: file, path: "{{.Name}}/{{.Name}}.json", take_over: true}]
`, sim.Endpoint)
	if err := os.WriteFile(config, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	e := &selfEnv{t: t, sim: sim, dir: dir, config: config}
	d := e.open()
	defer d.Close()
	out, err := d.RunPass(context.Background(), []string{"creds", "journal"}, rotation.Options{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range out {
		if o.Err == nil || !strings.Contains(o.Err.Error(), file.ErrProtected.Error()) {
			t.Errorf("%s/%s: error %v, want one saying %q", o.Policy, o.Name, o.Err, file.ErrProtected)
		} else {
			t.Logf("%s/%s: %v", o.Policy, o.Name, o.Err)
		}
	}
	if len(out) != 2 {
		t.Errorf("outcomes %+v, want one for credential and one for state", out)
	}
	if got := e.stored(); got.Key != admin.Key {
		t.Errorf("the credential file holds %s, want rotatord's key %s", got.Key, admin.Key)
	}
	if _, err := os.Stat(filepath.Join(dir, "state", "state.json")); err == nil {
		t.Error("a sink wrote state/state.json, inside the state directory")
	}
	for _, name := range []string{"credential", "state"} {
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
