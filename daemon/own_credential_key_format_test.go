package daemon

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/rotatord/rotatord/config"
)

// A credential file (own_key set, so run reads it through the file sink)
// whose api_key is no Exoscale key id, the secret pasted there: validate
// refuses it, naming the file and api_key, and run must refuse it too,
// with the same clear error, before it signs anything with it (else every
// request fails with an unclear error, or with a malformed Authorization
// header retried as an outage), and without quoting the value.
func TestOwnCredentialFileWithAnInvalidKeyIDIsRefusedAsValidateSays(t *testing.T) {
	e := newSelfEnv(t, "0s")
	const pasted = "R4nd0mSecretPastedWhereTheKeyBelongs0123456"
	cred, _ := json.Marshal(map[string]string{"api_key": pasted, "api_secret": e.sim.Admin().Secret})
	if err := os.WriteFile(filepath.Join(e.dir, "credential.json"), cred, 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, verr := config.Validate(e.config, config.ValidateOptions{Host: true})
	if verr == nil {
		t.Fatal("validate accepts the credential file")
	}
	d, rerr := New(Options{ConfigPath: e.config, Logger: zap.NewNop(), Registry: prometheus.NewRegistry()})
	if rerr == nil {
		d.Close()
		t.Fatalf("run accepts a credential file whose api_key validate refuses (%v)", verr)
	}
	if !strings.Contains(rerr.Error(), "credential.json") || !strings.Contains(rerr.Error(), "api_key") {
		t.Errorf("run's error %q names neither the file nor api_key", rerr)
	}
	if strings.Contains(rerr.Error(), pasted) {
		t.Errorf("run's error quotes the value of api_key: %q", rerr)
	}
}
