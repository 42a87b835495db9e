package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient/exosim"
	"github.com/rotatord/rotatord/rotation"
)

// Found by review: a reload that changes listen is accepted but must say the
// address only changes at restart (README: "Changing state_dir or listen
// needs a restart"). Reload compared the new listen with d.Config() after
// install had already swapped the config in, so the warning never fired.
func TestReloadWarnsThatAListenChangeNeedsARestart(t *testing.T) {
	e := newEnv(t)
	e.start()
	body := fmt.Sprintf(policyTmpl, e.sim.Endpoint, e.sim.Admin().Key, "127.0.0.1:1", ciPolicy)
	if err := os.WriteFile(e.config, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.d.Reload(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if n := e.logs.FilterMessage("listen address changed: takes effect at restart").Len(); n != 1 {
		var msgs []string
		for _, l := range e.logs.All() {
			msgs = append(msgs, l.Message)
		}
		t.Errorf("listen changed on reload: %d warnings, want 1; logs: %s", n, strings.Join(msgs, " | "))
	}
}

// Found by review: a reload that removes the sink already holding the new
// key of a rotation in phase created (the delivery failed at the next
// sink) was accepted; the next pass then "rolled back" the rotation ("its
// new key reached no sink") and deleted the new key, while the removed
// sink's file, which the consumer reads, still held it. README: "no key
// that a sink holds, or may hold, is deleted". The reload is refused like
// a change that strands a rotation.
func TestReloadDroppingTheSinkThatMayHoldTheNewKeyIsRefused(t *testing.T) {
	e := newEnv(t)
	os.Mkdir(filepath.Join(e.dir, "out2"), 0o700)
	twoSinks := `  - name: ci
    match: {name: "ci-runner"}
    schedule: "@every 1h"
    grace_period: 1h
    adopt: rotate
    sinks:
      - type: file
        path: "out/{{.Name}}.json"
      - type: file
        path: "out2/{{.Name}}.json"
`
	e.writePolicy(twoSinks)
	if err := e.d.Reload(); err != nil {
		t.Fatal(err)
	}
	// The second sink's directory vanishes while the create is in flight
	// (after the probe): the first sink takes the new key, the second fails.
	e.sim.SetFault(exosim.OpCreateAPIKey, exosim.Fault{Latency: 300 * time.Millisecond})
	go func() {
		time.Sleep(150 * time.Millisecond)
		os.Remove(filepath.Join(e.dir, "out2"))
	}()
	e.d.RunPass(context.Background(), []string{"ci"}, rotation.Options{Force: true})
	e.sim.SetFault(exosim.OpCreateAPIKey, exosim.Fault{})
	b, err := os.ReadFile(filepath.Join(e.dir, "out", "ci-runner.json"))
	if err != nil {
		t.Fatal(err)
	}
	var held struct {
		APIKey string `json:"api_key"`
	}
	json.Unmarshal(b, &held)
	alive := func(id string) bool {
		for _, k := range e.sim.Keys() {
			if k.Key == id {
				return k.Alive
			}
		}
		return false
	}
	if !alive(held.APIKey) {
		t.Fatalf("setup: the key in out/ci-runner.json (%s) is not alive", held.APIKey)
	}
	// The operator drops the first sink.
	os.Mkdir(filepath.Join(e.dir, "out2"), 0o700)
	e.writePolicy(strings.Replace(twoSinks, "      - type: file\n        path: \"out/{{.Name}}.json\"\n", "", 1))
	err = e.d.Reload()
	if err == nil || !strings.Contains(err.Error(), "out/ci-runner.json") {
		t.Errorf("reload dropping the sink that may hold the new key: %v, want it refused, naming that target", err)
	}
	e.d.RunPass(context.Background(), []string{"ci"}, rotation.Options{IgnoreBackoff: true})
	if !alive(held.APIKey) {
		t.Errorf("the key out/ci-runner.json holds (%s) was deleted after a reload dropped that sink", held.APIKey)
	}
}

// A reload waits for the pass in flight; when that outlasts the server's
// write timeout, the caller still gets the answer (found by review: after
// 60 s the connection was closed with no answer, though the reload then
// applied).
func TestReloadAnswersAfterTheWriteTimeout(t *testing.T) {
	e := newEnv(t)
	e.runWeb(WebOptions{EnableLifecycle: true, WriteTimeout: 200 * time.Millisecond})
	// A pass holds the engines for a second.
	release := e.holdEngines()
	go func() {
		time.Sleep(time.Second)
		release()
	}()
	start := time.Now()
	code, body := e.request("POST", "/-/reload", nil)
	if code != 200 || strings.TrimSpace(body) != "reloaded" {
		t.Errorf("POST /-/reload waiting %v for a pass: %d %q, want 200 reloaded", time.Since(start).Round(time.Millisecond), code, body)
	}
}

// holdEngines locks every account's engine as a pass in flight does, and
// returns what lets them go (once, whatever the number of calls). The
// accounts are read under the daemon's lock, which is let go before any
// engine is locked: a handler in flight may need it (the deleter asks
// which keys the other accounts sign with), as the reload's install does.
func (e *env) holdEngines() (release func()) {
	var unlock []func()
	for _, a := range e.d.accountsInForce() {
		unlock = append(unlock, a.engine.LockInstall())
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			for _, u := range unlock {
				u()
			}
		})
	}
}
