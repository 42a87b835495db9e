package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/apiclient/exosim"
	"github.com/rotatord/rotatord/apiclient/exosim/exosimtest"
	"github.com/rotatord/rotatord/config"
	"github.com/rotatord/rotatord/rotation"
)

// rotatord's own key is rotated whatever its name: the console takes
// names such as "rotatord admin" or "ops/rotatord", which a consumer's
// policy leaves alone (they would be rendered into its sinks' paths and
// templates), but the own key's name goes into no path. Skipped like a
// consumer's, the key rotatord signs with never rotated: `once --force`
// showed no row for it and exited 0, and no alert could fire (a skipped
// name has no key age series).
func TestOwnKeyWithANameConsumersMayNotHaveRotates(t *testing.T) {
	for i, name := range []string{"rotatord admin", "ops/rotatord", "rotatord..", "-rotatord"} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			seed := exosim.DefaultSeed()
			seed.Admin.Name = name
			sim := exosimtest.NewServer(t, seed)
			admin := sim.Admin()
			d, credFile := newOwnKeyDaemon(t, sim, `exoscale:
  endpoint: %s
  credential_file: credential.json
  max_retries: 0
  own_key: {max_age: 1h, grace_period: 0s}
state_dir: state
listen: 127.0.0.1:0
`)
			out, err := d.RunPass(context.Background(), []string{config.SelfPolicy}, rotation.Options{Force: true})
			if err != nil {
				t.Fatal(err)
			}
			if len(out) != 1 || out[0].Name != name || out[0].Err != nil || out[0].Decision.Action != rotation.ActionRotate {
				t.Fatalf("outcomes %+v, want one rotation of %q", out, name)
			}
			got, err := (apiclient.CredentialSource{PairFile: credFile}).Resolve(os.Getenv)
			if err != nil {
				t.Fatal(err)
			}
			if got.Key == admin.Key {
				t.Fatalf("the credential file still holds the old own key")
			}
			var alive []string
			for _, k := range sim.Keys() {
				if k.Name == name && k.Alive {
					alive = append(alive, k.Key)
				}
			}
			if len(alive) != 1 || alive[0] != got.Key {
				t.Errorf("live keys named %q: %v, want only %s, the one the credential file holds", name, alive, got.Key)
			}
			// The next pass signs with it.
			if _, err := d.RunPass(context.Background(), nil, rotation.Options{}); err != nil {
				t.Fatalf("a pass after the rotation: %v", err)
			}
		})
	}
}

// newOwnKeyDaemon writes sim's admin credential to credential.json and
// config (its one %s: sim's endpoint) to rotatord.yml in a new temporary
// directory, and opens a daemon on that config, closed at the end of the
// test. It returns the daemon and the credential file's path.
func newOwnKeyDaemon(t *testing.T, sim *exosim.Server, config string) (*Daemon, string) {
	t.Helper()
	dir := t.TempDir()
	admin := sim.Admin()
	cred, _ := json.Marshal(map[string]string{"api_key": admin.Key, "api_secret": admin.Secret})
	credFile := filepath.Join(dir, "credential.json")
	if err := os.WriteFile(credFile, cred, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "rotatord.yml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(config, sim.Endpoint)), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := New(Options{ConfigPath: cfg, Logger: zap.NewNop(), Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d, credFile
}
