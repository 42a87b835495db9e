package daemon

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rotatord/rotatord/apiclient/exosim"
	"github.com/rotatord/rotatord/apiclient/exosim/exosimtest"
	"github.com/rotatord/rotatord/config"
)

// Issue 11: "Quote or escape control characters in every human-facing
// output." validate --online printed the IAM role name the API returns
// raw: a role named with ESC[2K and a carriage return erased the line and
// printed whatever followed it on the operator's terminal.
func TestOnlineCheckEscapesRoleName(t *testing.T) {
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

// The same for the API's error message in the FAIL credential line: it
// stays on its line, escaped.
func TestOnlineCheckEscapesTheAPIErrorMessage(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `{"message":"denied\u001b[2K\r\nok    credential works"}`)
	}))
	defer srv.Close()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "out"), 0o700); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "rotatord.yml")
	body := fmt.Sprintf(`exoscale:
  endpoint: %s/v2
  api_key: EXOaaaaaaaaaaaaaaaaaaaaaaaa
  api_secret: not-a-secret-that-matters
  max_retries: 0
state_dir: state
policies:
  - name: ci
    match: {name: "ci-*"}
    sinks:
      - type: file
        path: "out/{{.Name}}.json"
`, srv.URL)
	if err := os.WriteFile(cfgPath, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := config.Validate(cfgPath, config.ValidateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := CheckOnline(context.Background(), cfg, func(string) string { return "" }, &out); err == nil {
		t.Fatalf("CheckOnline passed a credential the API refuses:\n%s", out.String())
	}
	if strings.ContainsAny(out.String(), "\x1b\r") || strings.Contains(out.String(), "\nok    credential works") {
		t.Errorf("validate --online printed the API's error message raw:\n%q", out.String())
	}
	if !strings.Contains(out.String(), "FAIL  credential") {
		t.Errorf("no FAIL credential line:\n%q", out.String())
	}
}
