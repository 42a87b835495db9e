package daemon

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/rotatord/rotatord/apiclient/exosim"
	"github.com/rotatord/rotatord/apiclient/exosim/exosimtest"
	"github.com/rotatord/rotatord/config"
)

// onlineEnv is a simulator and a policy file whose ci-* keys go to files
// in out/, with the state directory not created yet.
type onlineEnv struct {
	sim    *exosim.Server
	dir    string
	config string
}

func newOnlineEnv(t *testing.T, secret, sinkDir string) *onlineEnv {
	t.Helper()
	e := &onlineEnv{sim: exosimtest.NewServer(t, exosim.DefaultSeed()), dir: t.TempDir()}
	if err := os.Mkdir(filepath.Join(e.dir, "out"), 0o700); err != nil {
		t.Fatal(err)
	}
	if secret == "" {
		secret = e.sim.Admin().Secret
	}
	if err := os.WriteFile(filepath.Join(e.dir, "secret"), []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	e.config = filepath.Join(e.dir, "rotatord.yml")
	body := fmt.Sprintf(`exoscale:
  endpoint: %s
  api_key: %s
  api_secret_file: secret
  max_retries: 0
state_dir: state
policies:
  - name: ci
    match: {name: "ci-*"}
    adopt: rotate
    sinks:
      - type: file
        path: "%s/{{.Name}}.json"
      - type: file
        path: "%s/{{.Name}}.env"
        format: env
`, e.sim.Endpoint, e.sim.Admin().Key, sinkDir, sinkDir)
	if err := os.WriteFile(e.config, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *onlineEnv) check(t *testing.T) (string, error) {
	t.Helper()
	cfg, _, err := config.Validate(e.config, config.ValidateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err = CheckOnline(context.Background(), cfg, func(string) string { return "" }, &out)
	return out.String(), err
}

// entries lists what is under dir, recursively.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	var got []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && p != dir {
			got = append(got, p)
		}
		return nil
	})
	return got
}

func TestCheckOnline(t *testing.T) {
	e := newOnlineEnv(t, "", "out")
	keysBefore := e.sim.Keys()
	filesBefore := entries(t, e.dir)

	out, err := e.check(t)
	if err != nil {
		t.Fatalf("CheckOnline() = %v\n%s", err, out)
	}
	for _, want := range []string{
		fmt.Sprintf("ok    credential %s: signed a listing of %d API keys at %s", e.sim.Admin().Key, len(keysBefore), e.sim.Endpoint),
		fmt.Sprintf("the credential's key %q has IAM role %s (admin)", exosim.DefaultAdminName, exosim.AdminRoleID),
		"only list-api-keys is proven here",
		"ok    policy ci sink file#0: " + filepath.Join(e.dir, "out"),
		"ok    policy ci sink file#1: " + filepath.Join(e.dir, "out"),
		"POLICY  NAME",
		"ci      ci-",
		"rotate",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	// Nothing created or deleted: keys, files, state.
	if keysAfter := e.sim.Keys(); !reflect.DeepEqual(keysAfter, keysBefore) {
		t.Errorf("keys changed:\nbefore %v\nafter  %v", keysBefore, keysAfter)
	}
	for op, c := range e.sim.Calls() {
		if op != "list-api-keys" && op != "list-iam-roles" {
			t.Errorf("the check called %s %d times", op, c.Total)
		}
	}
	if got := entries(t, e.dir); !reflect.DeepEqual(got, filesBefore) {
		t.Errorf("files changed:\nbefore %v\nafter  %v", filesBefore, got)
	}
}

func TestCheckOnlineBadCredential(t *testing.T) {
	e := newOnlineEnv(t, "not-the-secret", "out")
	out, err := e.check(t)
	if err == nil {
		t.Fatalf("CheckOnline() = nil with a wrong secret:\n%s", out)
	}
	if !strings.Contains(out, "FAIL  credential "+e.sim.Admin().Key+": listing the API keys") {
		t.Errorf("output:\n%s", out)
	}
}

func TestCheckOnlineMissingSinkDirectory(t *testing.T) {
	e := newOnlineEnv(t, "", "missing")
	keysBefore := e.sim.Keys()
	out, err := e.check(t)
	if err == nil {
		t.Fatalf("CheckOnline() = nil with a missing sink directory:\n%s", out)
	}
	if want := "FAIL  policy ci sink file#0: " + filepath.Join(e.dir, "missing"); !strings.Contains(out, want) {
		t.Errorf("output lacks %q:\n%s", want, out)
	}
	if want := "online check: "; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error = %v", err)
	}
	// The plan is printed all the same.
	if !strings.Contains(out, "POLICY  NAME") {
		t.Errorf("no plan:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "missing")); !os.IsNotExist(err) {
		t.Errorf("the check created the sink directory: %v", err)
	}
	if keysAfter := e.sim.Keys(); !reflect.DeepEqual(keysAfter, keysBefore) {
		t.Errorf("keys changed")
	}
}
