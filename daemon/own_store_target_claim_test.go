package daemon

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/apiclient/exosim"
	"github.com/rotatord/rotatord/apiclient/exosim/exosimtest"
	"github.com/rotatord/rotatord/config"
	"github.com/rotatord/rotatord/rotation"
)

// A policy whose file sink template renders the credential file for a key
// someone named after it ("credential" with "{{.Name}}.json" beside
// credential.json) is refused that target, as every sink is. That refused
// rotation must not take the target from the own key: it claimed it before
// its probe failed, and in one pass of every policy (`once`, the first
// pass of `run`) the own key's rotation, which runs last, was then refused
// its own credential store ("another key name ... claimed it first"), on
// every pass: rotatord's key never rotated.
func TestRefusedSinkOnTheCredentialFileLeavesTheOwnKeyRotating(t *testing.T) {
	seed := exosim.DefaultSeed()
	seed.Keys = append(seed.Keys, exosim.SeedKey{Name: "credential", Role: "ci"})
	sim := exosimtest.NewServer(t, seed)
	admin := sim.Admin()
	d, credFile := newOwnKeyDaemon(t, sim, `exoscale:
  endpoint: %s
  credential_file: credential.json
  max_retries: 0
  own_key: {max_age: 1h, grace_period: 1h}
state_dir: state
listen: 127.0.0.1:0
policies:
  - name: ci
    match: {name: "c*"}
    adopt: rotate
    sinks: [{type: file, path: "{{.Name}}.json", take_over: true}]
`)
	out, _ := d.RunPass(context.Background(), nil, rotation.Options{Force: true})
	for _, o := range out {
		switch {
		case o.Policy == "ci" && o.Name == "credential":
			if o.Err == nil || !strings.Contains(o.Err.Error(), "credential_file") {
				t.Errorf("ci/credential: %v, want the credential file refused", o.Err)
			}
		case o.Policy == config.SelfPolicy && o.Err != nil:
			t.Errorf("the own key's rotation failed: %v", o.Err)
		}
	}
	got, err := (apiclient.CredentialSource{PairFile: credFile}).Resolve(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	if got.Key == admin.Key {
		t.Errorf("the credential file still holds the old own key %s: the own key never rotated", admin.Key)
	}
}
