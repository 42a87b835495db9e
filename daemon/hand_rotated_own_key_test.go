package daemon

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/rotatord/rotatord/apiclient/exosim"
	"github.com/rotatord/rotatord/rotation"
)

// An operator rotates the own key by hand: a new key of the same name and
// role in the credential file, then the old key deleted, with no reload
// in between. The credential file holds a key that signs: the next pass
// must sign with it, not fail for good with the deleted one.
func TestHandRotatedOwnKeyWithTheOldDeletedIsFollowed(t *testing.T) {
	e := newSelfEnv(t, "0s")
	old := e.sim.Admin()
	d := e.open()
	defer d.Close()
	if _, err := d.RunPass(context.Background(), nil, rotation.Options{}); err != nil {
		t.Fatal(err)
	}
	var role string
	for _, k := range e.sim.Keys() {
		if k.Key == old.Key {
			role = k.RoleID
		}
	}
	k2, err := e.sim.CreateKey(exosim.DefaultAdminName, role)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]string{"api_key": k2.Key, "api_secret": k2.Secret})
	if err := os.WriteFile(filepath.Join(e.dir, "credential.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.sim.DeleteKey(old.Key); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		_, err = d.RunPass(context.Background(), nil, rotation.Options{IgnoreBackoff: true})
	}
	if err != nil {
		t.Errorf("passes after the own key was rotated by hand (file holds %s, %s deleted): %v", k2.Key, old.Key, err)
	}
}
