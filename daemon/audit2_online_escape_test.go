package daemon

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rotatord/rotatord/apiclient/exosim"
	"github.com/rotatord/rotatord/apiclient/exosim/exosimtest"
	"github.com/rotatord/rotatord/config"
)

// Issue 11: "Quote or escape control characters in every human-facing
// output." validate --online prints the IAM role name the API returns
// raw: a role named with ESC[2K and a carriage return erases the line and
// prints whatever follows it on the operator's terminal.
func TestAudit2OnlineCheckEscapesRoleName(t *testing.T) {
	seed := exosim.DefaultSeed()
	for i := range seed.Roles {
		if seed.Roles[i].ID == exosim.AdminRoleID {
			seed.Roles[i].Name = "admin\x1b[2K\rok    SPOOFED LINE"
		}
	}
	seed.Admin.Role = exosim.AdminRoleID
	sim := exosimtest.NewServer(t, seed)
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "out"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "secret"), []byte(sim.Admin().Secret), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "rotatord.yml")
	body := fmt.Sprintf(`exoscale:
  endpoint: %s
  api_key: %s
  api_secret_file: secret
  max_retries: 0
state_dir: state
policies:
  - name: ci
    match: {name: "ci-*"}
    sinks:
      - type: file
        path: "out/{{.Name}}.json"
`, sim.Endpoint, sim.Admin().Key)
	if err := os.WriteFile(cfgPath, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := config.Validate(cfgPath, config.ValidateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := CheckOnline(context.Background(), cfg, func(string) string { return "" }, &out); err != nil {
		t.Fatalf("CheckOnline: %v\n%s", err, out.String())
	}
	if strings.ContainsAny(out.String(), "\x1b\r") {
		t.Errorf("validate --online printed a control character from the API's role name:\n%q", out.String())
	}
}
