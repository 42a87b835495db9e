package daemon

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/rotatord/rotatord/apiclient/exosim"
	"github.com/rotatord/rotatord/apiclient/exosim/exosimtest"
	"github.com/rotatord/rotatord/config"
	"github.com/rotatord/rotatord/rotation"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type env struct {
	t      *testing.T
	sim    *exosim.Server
	dir    string
	config string
	listen string
	logs   *observer.ObservedLogs
	d      *Daemon
	reg    *prometheus.Registry
}

const policyTmpl = `exoscale:
  endpoint: %s
  api_key: %s
  api_secret_file: secret
  rate_limit: 1000
  max_retries: 0
state_dir: state
listen: %s
policies:
%s`

const ciPolicy = `  - name: ci
    match: {name: "ci-*"}
    schedule: "@every 1h"
    grace_period: 0s
    adopt: rotate
    sinks:
      - type: file
        path: "out/{{.Name}}.json"
`

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, sim: exosimtest.NewServer(t, exosim.DefaultSeed()), dir: t.TempDir(), listen: freePort(t)}
	os.Mkdir(filepath.Join(e.dir, "out"), 0o700)
	os.WriteFile(filepath.Join(e.dir, "secret"), []byte(e.sim.Admin().Secret), 0o600)
	e.config = filepath.Join(e.dir, "rotatord.yml")
	e.writePolicy(ciPolicy)
	core, logs := observer.New(zap.DebugLevel)
	e.logs = logs
	e.reg = prometheus.NewRegistry()
	d, err := New(Options{ConfigPath: e.config, Logger: zap.New(core), Registry: e.reg, DeleteCheckInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	e.d = d
	return e
}

func (e *env) writePolicy(policies string) {
	e.t.Helper()
	body := fmt.Sprintf(policyTmpl, e.sim.Endpoint, e.sim.Admin().Key, e.listen, policies)
	if err := os.WriteFile(e.config, []byte(body), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

// start runs the daemon until the test ends.
func (e *env) start() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.d.Run(ctx, nil) }()
	e.t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				e.t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			e.t.Error("Run did not return after cancel")
		}
	})
	e.eventually("HTTP server up", func() bool {
		resp, err := http.Get("http://" + e.listen + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}

func (e *env) eventually(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *env) get(path string) (int, string) {
	e.t.Helper()
	resp, err := http.Get("http://" + e.listen + path)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (e *env) post(path string) (int, string) {
	e.t.Helper()
	resp, err := http.Post("http://"+e.listen+path, "text/plain", nil)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestRunRotatesAtStartAndServesHealth(t *testing.T) {
	e := newEnv(t)
	e.start()
	e.eventually("ci-runner delivered", func() bool {
		_, err := os.Stat(filepath.Join(e.dir, "out", "ci-runner.json"))
		return err == nil
	})
	e.eventually("ready", func() bool { code, _ := e.get("/readyz"); return code == 200 })
	e.eventually("old keys deleted", func() bool {
		n := 0
		for _, k := range e.sim.Keys() {
			if k.Alive && strings.HasPrefix(k.Name, "ci-") {
				n++
			}
		}
		return n == 2
	})
	code, body := e.get("/metrics")
	if code != 200 || !strings.Contains(body, `rotatord_rotations_total{account="default",policy="ci",result="success"} 2`) {
		t.Errorf("/metrics = %d:\n%s", code, body)
	}
	for _, k := range e.sim.Keys() {
		if strings.Contains(body, k.Secret) {
			t.Errorf("/metrics contains the secret of %s", k.Key)
		}
	}
	for _, want := range []string{`rotatord_api_rate_limit_requests_per_second{account="default"} 1000`, `rotatord_api_in_flight_limit{account="default"} `} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if !strings.Contains(body, `rotatord_key_created_timestamp_seconds{account="default",name="ci-runner",policy="ci"} `) {
		t.Errorf("/metrics has no key series for ci-runner:\n%s", body)
	}
	problems, err := testutil.GatherAndLint(e.d.metrics.Gatherer(e.reg))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func TestReadyzFailsWhenTheAPIRefuses(t *testing.T) {
	e := newEnv(t)
	e.sim.SetFault(exosim.OpListAPIKeys, exosim.Fault{ErrorRate: 1})
	e.start()
	e.eventually("a pass ran", func() bool { return e.d.account(config.DefaultAccount).apiTried.Load() })
	code, body := e.get("/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "listing failed") {
		t.Errorf("/readyz = %d %q, want 503", code, body)
	}
}

func TestReloadKeepsTheOldConfigWhenTheNewOneIsInvalid(t *testing.T) {
	e := newEnv(t)
	e.d.opts.Web.EnableLifecycle = true // --web.enable-lifecycle
	e.start()
	os.WriteFile(e.config, []byte("policies: [\n"), 0o600)
	code, body := e.post("/-/reload")
	if code != http.StatusBadRequest || strings.Contains(body, e.config) {
		t.Errorf("reload of a broken file = %d %q, want 400 without details", code, body)
	}
	if e.logs.FilterMessage("reload rejected; keeping the previous configuration").FilterFieldKey("error").Len() != 1 {
		t.Error("the rejected reload is not logged with its reason")
	}
	if _, m := e.get("/metrics"); !strings.Contains(m, "rotatord_config_last_reload_successful 0") {
		t.Error("config_last_reload_successful is not 0 after a rejected reload")
	}
	if len(e.d.Config().Policies) != 1 {
		t.Error("the old config was not kept")
	}

	e.writePolicy(ciPolicy + `  - name: backup
    match: {name: "backup-*"}
    sinks:
      - type: file
        path: "out/backup-{{.Name}}.json"
`)
	code, body = e.post("/-/reload")
	if code != 200 {
		t.Fatalf("reload of a good file = %d %q", code, body)
	}
	if _, m := e.get("/metrics"); !strings.Contains(m, "rotatord_config_last_reload_successful 1") {
		t.Error("config_last_reload_successful is not 1 after a good reload")
	}
	if n := len(e.d.Config().Policies); n != 2 {
		t.Errorf("policies after reload = %d, want 2", n)
	}
	_, metrics := e.get("/metrics")
	if !strings.Contains(metrics, `rotatord_rotations_total{account="default",policy="backup",result="success"} 0`) {
		t.Error("the new policy's series are not created at zero")
	}
}

func TestOnePassRotatesOnlyWhatIsDue(t *testing.T) {
	e := newEnv(t)
	out, err := e.d.RunPass(context.Background(), []string{"ci"}, rotation.Options{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 || out[0].Decision.Action != rotation.ActionRotate {
		t.Fatalf("plan = %+v", out)
	}
	if _, err := e.d.RunPass(context.Background(), []string{"nope"}, rotation.Options{}); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("unknown policy: err = %v", err)
	}
}

func TestReloadRefusesToDropAPolicyWithARotationInFlight(t *testing.T) {
	e := newEnv(t)
	e.writePolicy(strings.Replace(ciPolicy, "grace_period: 0s", "grace_period: 1h", 1))
	if err := e.d.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.d.RunPass(context.Background(), nil, rotation.Options{Force: true}); err != nil {
		t.Fatal(err)
	}
	e.writePolicy(`  - name: other
    match: {name: "backup-*"}
    sinks:
      - type: file
        path: "out/{{.Name}}.json"
`)
	err := e.d.Reload()
	if err == nil || !strings.Contains(err.Error(), "ci/ci-runner (delivered; policy removed)") {
		t.Fatalf("reload dropping policy ci: err = %v, want a refusal naming its rotation", err)
	}
	if e.d.Config().Policies[0].Name != "ci" {
		t.Error("the old config was not kept")
	}
}

// A reload or a restart whose policy no longer matches a name with a
// rotation in flight would strand it (issue 10, item 2): both are refused,
// naming the rotation, and a reload keeps the old config.
func TestConfigThatStopsMatchingARotationIsRefused(t *testing.T) {
	e := newEnv(t)
	e.writePolicy(strings.Replace(ciPolicy, "grace_period: 0s", "grace_period: 1h", 1))
	if err := e.d.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.d.RunPass(context.Background(), nil, rotation.Options{Force: true}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, edit string }{
		{"exclude", `match: {name: "ci-*", exclude: ["ci-runner"]}`},
		{"name", `match: {name: "ci-d*"}`},
		{"role", `match: {name: "ci-*", role_id: "99999999-9999-9999-9999-999999999999"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e.writePolicy(strings.Replace(strings.Replace(ciPolicy, "grace_period: 0s", "grace_period: 1h", 1),
				`match: {name: "ci-*"}`, tt.edit, 1))
			err := e.d.Reload()
			if err == nil || !strings.Contains(err.Error(), "ci/ci-runner (delivered; no longer matched by the policy)") {
				t.Fatalf("reload: err = %v, want a refusal naming ci/ci-runner", err)
			}
			if got := e.d.Config().Policies[0].Match.Name; got != "ci-*" {
				t.Errorf("match after a refused reload = %q, want the old ci-*", got)
			}
			// The same file at start: refused too.
			_, err = New(Options{ConfigPath: e.config, Logger: zap.NewNop(), ReadOnly: true})
			if err != nil {
				t.Fatalf("plan must still load the file: %v", err)
			}
		})
	}
	e.d.Close()
	e.writePolicy(strings.Replace(ciPolicy, `match: {name: "ci-*"}`, `match: {name: "ci-*", exclude: ["ci-runner"]}`, 1))
	_, err := New(Options{ConfigPath: e.config, Logger: zap.NewNop()})
	if err == nil || !strings.Contains(err.Error(), "ci/ci-runner (delivered; no longer matched by the policy)") {
		t.Fatalf("start: err = %v, want a refusal naming ci/ci-runner", err)
	}
}
