package daemon

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/rotatord/rotatord/apiclient/exosim"
	"github.com/rotatord/rotatord/apiclient/exosim/exosimtest"
	"github.com/rotatord/rotatord/rotation"
	"github.com/rotatord/rotatord/state"
)

// scrape returns what /metrics serves.
func scrape(t *testing.T, d *Daemon) string {
	t.Helper()
	srv := httptest.NewServer(d.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func stateRecordInFlight(policy, name string) state.Record {
	return state.Record{Policy: policy, Name: name, CurrentKeyID: "EXO000000000000000000000001", RoleID: "9c3a1f0e-5b2d-4e8a-9f61-2d4b8c0a1e02",
		Rotation: &state.Rotation{Phase: state.PhaseIntent, OldKeyIDs: []string{"EXO000000000000000000000001"}, RoleID: "9c3a1f0e-5b2d-4e8a-9f61-2d4b8c0a1e02"}}
}

const twoAccountsConfig = `exoscale:
  endpoint: %[1]s
  api_key: %[2]s
  api_secret: %[3]s
  rate_limit: 1000
  max_retries: 0
accounts:
  - name: green
    endpoint: %[1]s
    api_key: %[4]s
    api_secret_file: green-secret
    rate_limit: 1000
    max_retries: 0
state_dir: state
listen: 127.0.0.1:0
policies:
  - name: ci
    match: {name: "ci-*"}
    grace_period: 0s
    adopt: rotate
    sinks: [{type: file, path: "out/{{.Name}}.json"}]
  - name: green-ci
    account: green
    match: {name: "ci-*"}
    grace_period: 0s
    adopt: rotate
    sinks: [{type: file, path: "out/green-{{.Name}}.json"}]
`

type accountsEnv struct {
	t      *testing.T
	sim    *exosim.Server
	dir    string
	green  exosim.Credential
	logs   *observer.ObservedLogs
	reg    *prometheus.Registry
	config string
}

func newAccountsEnv(t *testing.T) *accountsEnv {
	t.Helper()
	seed := exosim.DefaultSeed()
	seed.Organizations = []exosim.Organization{{
		Name:  "green",
		Roles: []exosim.Role{{ID: "9c3a1f0e-5b2d-4e8a-9f61-2d4b8c0a1e01", Name: "admin"}, {ID: "9c3a1f0e-5b2d-4e8a-9f61-2d4b8c0a1e02", Name: "ci"}},
		Keys:  []exosim.SeedKey{{Name: "ci-runner", Role: "ci"}},
	}}
	e := &accountsEnv{t: t, sim: exosimtest.NewServer(t, seed), dir: t.TempDir()}
	e.green = exosimtest.AdminOf(t, e.sim, "green")
	os.Mkdir(filepath.Join(e.dir, "out"), 0o700)
	if err := os.WriteFile(filepath.Join(e.dir, "green-secret"), []byte(e.green.Secret), 0o600); err != nil {
		t.Fatal(err)
	}
	e.config = filepath.Join(e.dir, "rotatord.yml")
	admin := e.sim.Admin()
	body := fmt.Sprintf(twoAccountsConfig, e.sim.Endpoint, admin.Key, admin.Secret, e.green.Key)
	if err := os.WriteFile(e.config, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *accountsEnv) open() *Daemon {
	e.t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	e.logs, e.reg = logs, prometheus.NewRegistry()
	d, err := New(Options{ConfigPath: e.config, Logger: zap.New(core), Registry: e.reg})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { d.Close() })
	return d
}

// dropGreen rewrites the policy file without account green and its
// policy green-ci.
func (e *accountsEnv) dropGreen() {
	e.t.Helper()
	b, _ := os.ReadFile(e.config)
	cut := string(b)
	cut = cut[:strings.Index(cut, "  - name: green-ci")]
	cut = strings.Replace(cut, cut[strings.Index(cut, "accounts:"):strings.Index(cut, "state_dir:")], "", 1)
	if err := os.WriteFile(e.config, []byte(cut), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

// live returns the live keys named name in an organization.
func (e *accountsEnv) live(org, name string) []string {
	var out []string
	for _, k := range e.sim.Keys() {
		if k.Org == org && k.Name == name && k.Alive {
			out = append(out, k.Key)
		}
	}
	return out
}

func TestTwoAccountsRotateApart(t *testing.T) {
	e := newAccountsEnv(t)
	before := map[string][]string{"default": e.live(exosim.DefaultOrg, "ci-runner"), "green": e.live("green", "ci-runner")}
	d := e.open()
	out, err := d.RunPass(context.Background(), nil, rotation.Options{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	byPolicy := map[string]int{}
	for _, o := range out {
		if o.Err != nil {
			t.Errorf("%s/%s: %v", o.Policy, o.Name, o.Err)
		}
		byPolicy[o.Policy]++
	}
	if byPolicy["ci"] != 2 || byPolicy["green-ci"] != 1 {
		t.Errorf("outcomes per policy %v, want ci 2 (ci-runner, ci-deploy) and green-ci 1", byPolicy)
	}
	for org, old := range before {
		now := e.live(org, "ci-runner")
		if len(now) != 1 || now[0] == old[0] {
			t.Errorf("%s: ci-runner live keys %v (was %v): want one new key", org, now, old)
		}
	}
	// Each account's state apart: green's records under accounts/green.
	if _, err := os.Stat(filepath.Join(e.dir, "state", "accounts", "green", "records")); err != nil {
		t.Errorf("green's state directory: %v", err)
	}
	body := scrape(t, d)
	for _, want := range []string{`rotatord_rotations_total{account="green",policy="green-ci",result="success"} 1`, `rotatord_managed_names{account="green",policy="green-ci"} 1`, `rotatord_managed_names{account="default",policy="ci"} 2`,
		`rotatord_api_requests_total{account="green",code="200",operation="list-api-keys"}`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestAccountWithRevokedCredentialLeavesTheOtherRotating(t *testing.T) {
	e := newAccountsEnv(t)
	d := e.open()
	// green's credential is revoked: its key deleted from its organization.
	if err := e.sim.DeleteKey(e.green.Key); err != nil {
		t.Fatal(err)
	}
	old := e.live(exosim.DefaultOrg, "ci-runner")
	out, err := d.RunPass(context.Background(), nil, rotation.Options{Force: true})
	if err == nil || !strings.Contains(err.Error(), "account green") {
		t.Fatalf("pass error %v, want one naming account green", err)
	}
	n := 0
	for _, o := range out {
		if o.Policy == "ci" && o.Err == nil {
			n++
		}
	}
	if now := e.live(exosim.DefaultOrg, "ci-runner"); n != 2 || len(now) != 1 || now[0] == old[0] {
		t.Errorf("default account: %d outcomes, ci-runner %v (was %v): want it rotated", n, now, old)
	}
	if ok, why := d.Ready(); ok || !strings.Contains(why, "green") {
		t.Errorf("Ready() = %v %q, want not ready naming green", ok, why)
	}
	if body := scrape(t, d); !strings.Contains(body, `rotatord_passes_total{account="green",policy="green-ci",result="failure"} 1`) {
		t.Errorf("/metrics lacks the failed pass of green:\n%s", grepLines(body, "rotatord_passes_total"))
	}
}

func TestAccountWhoseCredentialCannotBeReadStartsTheOthers(t *testing.T) {
	e := newAccountsEnv(t)
	if err := os.Remove(filepath.Join(e.dir, "green-secret")); err != nil {
		t.Fatal(err)
	}
	d := e.open()
	out, err := d.RunPass(context.Background(), nil, rotation.Options{Force: true})
	if err == nil || !strings.Contains(err.Error(), "green") {
		t.Fatalf("pass error %v, want one naming green", err)
	}
	if len(out) != 2 {
		t.Errorf("%d outcomes, want the 2 of the default account", len(out))
	}
	found := false
	for _, l := range e.logs.All() {
		found = found || (strings.Contains(l.Message, "account left out") && l.ContextMap()["account"] == "green")
	}
	if !found {
		t.Error("no log line says account green was left out")
	}
	// Repaired and reloaded: green works.
	if err := os.WriteFile(filepath.Join(e.dir, "green-secret"), []byte(e.green.Secret), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.RunPass(context.Background(), []string{"green-ci"}, rotation.Options{}); err != nil {
		t.Errorf("green after the repair: %v", err)
	}
}

// A reload that removes an account with a rotation in flight is refused.
func TestReloadRemovingAnAccountWithARotationInFlight(t *testing.T) {
	e := newAccountsEnv(t)
	d := e.open()
	green := d.account("green")
	if err := green.store.Put(stateRecordInFlight("green-ci", "ci-runner")); err != nil {
		t.Fatal(err)
	}
	e.dropGreen()
	err := d.Reload()
	if err == nil || !strings.Contains(err.Error(), "account green") || !strings.Contains(err.Error(), "green-ci/ci-runner") {
		t.Fatalf("reload: %v, want a refusal naming account green and green-ci/ci-runner", err)
	}
	if d.account("green") == nil {
		t.Error("the refused reload removed the account")
	}
}
