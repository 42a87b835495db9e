package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/apiclient/exosim"
	"github.com/rotatord/rotatord/apiclient/exosim/exosimtest"
	"github.com/rotatord/rotatord/config"
	"github.com/rotatord/rotatord/rotation"
)

const selfConfig = `exoscale:
  endpoint: %s
  credential_file: credential.json
  rate_limit: 1000
  max_retries: 0
  own_key: {max_age: 1h, grace_period: %s, schedule: "@every 1h"}
state_dir: state
listen: 127.0.0.1:0
policies:
  - name: ci
    match: {name: "ci-*"}
    grace_period: 0s
    adopt: rotate
    sinks:
      - type: file
        path: "out/{{.Name}}.json"
`

type selfEnv struct {
	t      *testing.T
	sim    *exosim.Server
	dir    string
	config string
	logs   *observer.ObservedLogs
}

func newSelfEnv(t *testing.T, grace string) *selfEnv {
	t.Helper()
	e := &selfEnv{t: t, sim: exosimtest.NewServer(t, exosim.DefaultSeed()), dir: t.TempDir()}
	os.Mkdir(filepath.Join(e.dir, "out"), 0o700)
	admin := e.sim.Admin()
	cred, _ := json.Marshal(map[string]string{"api_key": admin.Key, "api_secret": admin.Secret})
	if err := os.WriteFile(filepath.Join(e.dir, "credential.json"), cred, 0o600); err != nil {
		t.Fatal(err)
	}
	e.config = filepath.Join(e.dir, "rotatord.yml")
	body := fmt.Sprintf(selfConfig, e.sim.Endpoint, grace)
	if err := os.WriteFile(e.config, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *selfEnv) open() *Daemon {
	e.t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	e.logs = logs
	d, err := New(Options{ConfigPath: e.config, Logger: zap.New(core), Registry: prometheus.NewRegistry()})
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

func (e *selfEnv) stored() apiclient.Credentials {
	e.t.Helper()
	c, err := (apiclient.CredentialSource{PairFile: filepath.Join(e.dir, "credential.json")}).Resolve(os.Getenv)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// forceOwnPass runs a forced pass of the own-key policy alone on d.
func (e *selfEnv) forceOwnPass(d *Daemon) {
	e.t.Helper()
	if _, err := d.RunPass(context.Background(), []string{config.SelfPolicy}, rotation.Options{Force: true}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *selfEnv) alive(id string) bool {
	for _, k := range e.sim.Keys() {
		if k.Key == id && k.Alive {
			return true
		}
	}
	return false
}

func TestOwnKeyRotatesAndSurvivesRestart(t *testing.T) {
	e := newSelfEnv(t, "0s")
	old := e.sim.Admin()
	d := e.open()
	out, err := d.RunPass(context.Background(), []string{config.SelfPolicy}, rotation.Options{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || out[0].Err != nil || out[0].Name != exosim.DefaultAdminName {
		t.Fatalf("outcomes %+v, want one rotation of %s", out, exosim.DefaultAdminName)
	}
	now := e.stored()
	if now.Key == old.Key {
		t.Fatal("the credential file still holds the old key")
	}
	if e.alive(old.Key) {
		t.Error("the old own key is still alive after a zero grace period")
	}
	if !e.alive(now.Key) {
		t.Fatalf("the new own key %s is not alive", now.Key)
	}
	fi, err := os.Stat(filepath.Join(e.dir, "credential.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("credential file mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	// The daemon signs with the new key: a pass works after the old is gone.
	if _, err := d.RunPass(context.Background(), nil, rotation.Options{}); err != nil {
		t.Fatalf("a pass after the switch: %v", err)
	}
	for _, entry := range e.logs.All() {
		b, _ := json.Marshal(entry.ContextMap())
		if strings.Contains(string(b)+entry.Message, now.Secret.Reveal()) || strings.Contains(string(b)+entry.Message, old.Secret) {
			t.Fatalf("a secret in the log: %s", entry.Message)
		}
	}
	d.Close()

	// A restart reads the new credential and authenticates with it.
	d = e.open()
	defer d.Close()
	out, err = d.RunPass(context.Background(), nil, rotation.Options{})
	if err != nil {
		t.Fatalf("pass after restart: %v", err)
	}
	for _, o := range out {
		if o.Err != nil {
			t.Errorf("after restart: %s/%s: %v", o.Policy, o.Name, o.Err)
		}
	}
}

func TestOwnKeyKeepsOldKeyThroughGracePeriod(t *testing.T) {
	e := newSelfEnv(t, "1h")
	old := e.sim.Admin()
	d := e.open()
	defer d.Close()
	e.forceOwnPass(d)
	now := e.stored()
	if now.Key == old.Key || !e.alive(old.Key) || !e.alive(now.Key) {
		t.Fatalf("want both keys alive during the grace period: old %v new %v", e.alive(old.Key), e.alive(now.Key))
	}
	// Another forced pass does not make a third key while one is in grace.
	e.forceOwnPass(d)
	n := 0
	for _, k := range e.sim.Keys() {
		if k.Name == exosim.DefaultAdminName && k.Alive {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d keys named %s, want 2", n, exosim.DefaultAdminName)
	}
}

func TestOwnKeyUnwritableStoreChangesNothing(t *testing.T) {
	e := newSelfEnv(t, "0s")
	old := e.sim.Admin()
	d := e.open()
	defer d.Close()
	before := len(e.sim.Keys())
	_ = old
	if err := os.Chmod(e.dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(e.dir, 0o700) })
	if os.Geteuid() == 0 {
		t.Skip("root writes anyway")
	}
	out, err := d.RunPass(context.Background(), []string{config.SelfPolicy}, rotation.Options{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || out[0].Err == nil {
		t.Fatalf("outcomes %+v: want the rotation to fail", out)
	}
	if got := e.stored(); got.Key != old.Key {
		t.Error("the credential changed")
	}
	if !e.alive(old.Key) || len(e.sim.Keys()) != before {
		t.Errorf("keys changed: old alive %v, %d keys (was %d)", e.alive(old.Key), len(e.sim.Keys()), before)
	}
}
