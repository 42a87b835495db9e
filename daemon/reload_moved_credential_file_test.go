package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rotatord/rotatord/apiclient/exosim"
	"github.com/rotatord/rotatord/rotation"
)

// An operator moves rotatord's credential file elsewhere (mv, then
// credential_file set to the new path) and reloads. The reload must not
// write the working key back at the old path, which the new file no
// longer names: that would leave a copy of the live secret where the
// operator removed it, in a file nothing manages any more (an old path on
// a volume being retired, say). The store it checks before reading the
// credentials is the one the new file names.
func TestReloadMovingCredentialFileDoesNotRecreateTheOldOne(t *testing.T) {
	e := newSelfEnv(t, "1h")
	d := e.open()
	defer d.Close()
	if _, err := d.RunPass(context.Background(), nil, rotation.Options{}); err != nil {
		t.Fatal(err)
	}
	oldPath, newPath := filepath.Join(e.dir, "credential.json"), filepath.Join(e.dir, "moved.json")
	if err := os.Rename(oldPath, newPath); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	moved := strings.Replace(string(b), "credential_file: credential.json", "credential_file: moved.json", 1)
	if err := os.WriteFile(e.config, []byte(moved), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.Reload(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if _, err := os.Stat(oldPath); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the reload wrote the credential back at %s, which the policy file no longer names (stat: %v)", oldPath, err)
	}
	if _, err := d.RunPass(context.Background(), nil, rotation.Options{}); err != nil {
		t.Errorf("a pass after the reload: %v", err)
	}
}

// An account removed from the policy file, whose credential file the
// operator removed too: the reload must not write that file again.
func TestReloadRemovingAnAccountDoesNotRecreateItsCredentialFile(t *testing.T) {
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
	green := filepath.Join(e.dir, "green-credential.json")
	if err := os.Remove(green); err != nil {
		t.Fatal(err)
	}
	e.dropGreen()
	if err := d.Reload(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if _, err := os.Stat(green); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the reload wrote green's credential back at %s, though the policy file no longer has account green (stat: %v)", green, err)
	}
}
