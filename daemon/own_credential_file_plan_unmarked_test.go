package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/rotatord/rotatord/apiclient/exosim"
	"github.com/rotatord/rotatord/apiclient/exosim/exosimtest"
)

// plan (and validate --online) build the daemon read-only: they change
// nothing. Marking the credential file as the store's at start (buildAccount)
// was done by them too: `plan` set user.rotatord on the file a running
// daemon signs with, and warned when it could not (a user allowed to read
// the file only). Only a daemon that may write marks it.
func TestReadOnlyDaemonLeavesTheCredentialFileUnmarked(t *testing.T) {
	sim := exosimtest.NewServer(t, exosim.DefaultSeed())
	dir := t.TempDir()
	admin := sim.Admin()
	cred, _ := json.Marshal(map[string]string{"api_key": admin.Key, "api_secret": admin.Secret})
	credFile := filepath.Join(dir, "credential.json")
	if err := os.WriteFile(credFile, cred, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(credFile, "user.rotatord-test", []byte("x"), 0); errors.Is(err, unix.EOPNOTSUPP) {
		t.Skip("the file system keeps no extended attributes")
	}
	cfg := filepath.Join(dir, "rotatord.yml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`exoscale:
  endpoint: %s
  credential_file: credential.json
  max_retries: 0
  own_key: {max_age: 720h, grace_period: 1h}
state_dir: state
listen: 127.0.0.1:0
`, sim.Endpoint)), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := New(Options{ConfigPath: cfg, Logger: zap.NewNop(), Registry: prometheus.NewRegistry(), ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	buf := make([]byte, 64)
	if n, err := unix.Getxattr(credFile, "user.rotatord", buf); err == nil {
		t.Errorf("a read-only daemon marked the credential file %q", buf[:n])
	}
}
