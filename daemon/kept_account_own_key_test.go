package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient/exosim"
	"github.com/rotatord/rotatord/rotation"
)

// An account that rotated its own key (and deleted the old one) keeps
// signing with the new key when a reload cannot read its credential file
// (the account keeps its previous setup). The engine must go on knowing
// the new key as its own: a setup read before the rotation names the old,
// deleted key, which the API showed this process, so every later listing
// (which lacks it) would be refused as partial, even once the file reads
// again.
func TestKeptAccountAfterOwnRotationKeepsWorking(t *testing.T) {
	e := newAccountsEnv(t)
	for name, cred := range map[string]exosim.Credential{"credential.json": e.sim.Admin(), "green-credential.json": e.green} {
		b, _ := json.Marshal(map[string]string{"api_key": cred.Key, "api_secret": cred.Secret})
		if err := os.WriteFile(filepath.Join(e.dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(e.config, []byte(fmt.Sprintf(bothOwnKeysConfig, e.sim.Endpoint)), 0o600); err != nil {
		t.Fatal(err)
	}
	d := e.open()
	if _, err := d.RunPass(context.Background(), nil, rotation.Options{}); err != nil {
		t.Fatal(err)
	}
	out, err := d.RunPass(context.Background(), []string{"_self-green"}, rotation.Options{Force: true})
	if err != nil || len(out) != 1 || out[0].Err != nil {
		t.Fatalf("green's own rotation: %v %+v", err, out)
	}
	time.Sleep(1100 * time.Millisecond) // grace_period 1s
	d.DeleteDue(context.Background(), rotation.Options{IgnoreBackoff: true})
	if len(e.live("green", e.greenAdminName(t))) != 1 {
		t.Fatalf("setup: the old own key of green was not deleted: %v", e.live("green", e.greenAdminName(t)))
	}

	cred := filepath.Join(e.dir, "green-credential.json")
	b, err := os.ReadFile(cred)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(cred); err != nil {
		t.Fatal(err)
	}
	if err := d.Reload(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if err := os.WriteFile(cred, b, 0o600); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		_, err = d.RunPass(context.Background(), []string{"green-ci", "_self-green"}, rotation.Options{IgnoreBackoff: true})
	}
	if err != nil {
		t.Errorf("green's passes fail after a reload that could not read its credential, though it is readable again: %v", err)
	}
}

// greenAdminName is the name of green's own key.
func (e *accountsEnv) greenAdminName(t *testing.T) string {
	for _, k := range e.sim.Keys() {
		if k.Key == e.green.Key {
			return k.Name
		}
	}
	t.Fatal("green's admin key is not in the simulator")
	return ""
}
