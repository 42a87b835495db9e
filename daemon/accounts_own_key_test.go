package daemon

// Review of issue 13 (own-key rotation, several organizations): tests that
// try to break the daemon's side of it. A failing test here is a defect.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/rotatord/rotatord/apiclient/exosim"
	"github.com/rotatord/rotatord/apiclient/exosim/exosimtest"
	"github.com/rotatord/rotatord/config"
	"github.com/rotatord/rotatord/rotation"
	"github.com/rotatord/rotatord/sinks"
)

// reloadDuringOwnRotation starts a forced own-key rotation whose create the
// API applies late (so the rotation waits, before the store's write, for
// the new key to sign), and reloads the unchanged policy file meanwhile.
// The reload reads the credential file while it still holds the old key;
// it then waits for the rotation to finish before it installs its setup.
func reloadDuringOwnRotation(t *testing.T, e *selfEnv, d *Daemon) (rotation.Outcome, error) {
	t.Helper()
	e.sim.SetFault(exosim.OpCreateAPIKey, exosim.Fault{LateApply: 1500 * time.Millisecond, LateApplyNext: 1})
	type res struct {
		out []rotation.Outcome
		err error
	}
	passDone := make(chan res, 1)
	go func() {
		out, err := d.RunPass(context.Background(), []string{config.SelfPolicy}, rotation.Options{Force: true})
		passDone <- res{out, err}
	}()
	// The create is made: the rotation now waits for its key to sign.
	deadline := time.Now().Add(10 * time.Second)
	for len(e.sim.Keys()) < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	if got := e.stored(); got.Key != e.sim.Admin().Key {
		t.Fatalf("the store was written before the reload: the race this test aims at did not happen")
	}
	reloadDone := make(chan error, 1)
	go func() { reloadDone <- d.Reload() }()
	r := <-passDone
	if err := <-reloadDone; err != nil {
		t.Fatalf("reload: %v", err)
	}
	if r.err != nil || len(r.out) != 1 {
		t.Fatalf("own-key pass: %v %+v", r.err, r.out)
	}
	return r.out[0], nil
}

// A reload (SIGHUP) that lands while the own key rotates, before the new
// key reaches the credential file, builds its API client from the old
// credential and installs it once the rotation is done: with grace_period
// 0 the rotation already deleted that key, so from the reload on every
// request of the daemon signs with a deleted key (outage until restart).
func TestReloadDuringOwnRotationSignsWithDeletedKey(t *testing.T) {
	e := newSelfEnv(t, "0s")
	old := e.sim.Admin()
	d := e.open()
	defer d.Close()
	o, _ := reloadDuringOwnRotation(t, e, d)
	if o.Err != nil {
		t.Fatalf("own-key rotation: %v", o.Err)
	}
	now := e.stored()
	if now.Key == old.Key || e.alive(old.Key) {
		t.Fatalf("want the rotation done and the old key deleted: store %s, old alive %v", now.Key, e.alive(old.Key))
	}
	if got := d.setup().account(config.DefaultAccount).api.Credentials().Key; got != now.Key {
		t.Errorf("after the reload the daemon signs with %s, want %s, the key the credential file holds (old, deleted: %s)", got, now.Key, old.Key)
	}
	if _, err := d.RunPass(context.Background(), nil, rotation.Options{}); err != nil {
		t.Errorf("a pass after the reload: %v (want it to work: the store holds a valid key)", err)
	}
}

// The same reload with a grace period: the daemon goes on signing with the
// superseded key, which the deletion then skips as "the key rotatord
// authenticates with" and forgets: the old admin key is never deleted.
func TestReloadDuringOwnRotationKeepsOldKeyForever(t *testing.T) {
	e := newSelfEnv(t, "1s")
	old := e.sim.Admin()
	d := e.open()
	defer d.Close()
	o, _ := reloadDuringOwnRotation(t, e, d)
	if o.Err != nil {
		t.Fatalf("own-key rotation: %v", o.Err)
	}
	now := e.stored()
	if got := d.setup().account(config.DefaultAccount).api.Credentials().Key; got != now.Key {
		t.Errorf("after the reload the daemon signs with %s, want %s (the credential file's)", got, now.Key)
	}
	time.Sleep(1500 * time.Millisecond) // the grace period ends
	d.DeleteDue(context.Background(), rotation.Options{IgnoreBackoff: true})
	for i := 0; i < 3; i++ {
		d.RunPass(context.Background(), nil, rotation.Options{IgnoreBackoff: true})
		time.Sleep(1100 * time.Millisecond)
		d.DeleteDue(context.Background(), rotation.Options{IgnoreBackoff: true})
	}
	if e.alive(old.Key) {
		t.Errorf("the superseded own key %s is still alive after its grace period (the store holds %s)", old.Key, now.Key)
	}
}

// `validate` says it checks what run checks on this host; for the
// credential file it reads through os.ReadFile (following a symlink, any
// directory), while run reads it through the file sink, which refuses a
// symlink. A credential file that is a symlink (a Kubernetes Secret volume,
// an operator's ln -s) passes validate and stops run.
func TestValidateAcceptsACredentialFileRunRefuses(t *testing.T) {
	e := newSelfEnv(t, "0s")
	real := filepath.Join(e.dir, "credential-real.json")
	link := filepath.Join(e.dir, "credential.json")
	if err := os.Rename(link, real); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("credential-real.json", link); err != nil {
		t.Fatal(err)
	}
	_, _, verr := config.Validate(e.config, config.ValidateOptions{Host: true})
	d, rerr := New(Options{ConfigPath: e.config, Logger: zap.NewNop(), Registry: prometheus.NewRegistry()})
	if rerr == nil {
		d.Close()
	}
	t.Logf("validate: %v; run: %v", verr, rerr)
	if (verr == nil) != (rerr == nil) {
		t.Errorf("validate and run disagree on a credential file that is a symlink: validate %v, run %v", verr, rerr)
	}
}

// A reload that removes an account with a rotation in flight is refused
// (TestReloadRemovingAnAccountWithARotationInFlight); a restart with the
// same file is not: the account's state directory is simply not opened,
// and its rotation in flight (an old key in its grace period, an orphan
// search) is abandoned for good.
func TestRestartRemovingAnAccountWithARotationInFlight(t *testing.T) {
	e := newAccountsEnv(t)
	d := e.open()
	if err := d.account("green").store.Put(stateRecordInFlight("green-ci", "ci-runner")); err != nil {
		t.Fatal(err)
	}
	d.Close()
	e.dropGreen()
	d2, err := New(Options{ConfigPath: e.config, Logger: zap.NewNop(), Registry: prometheus.NewRegistry()})
	if err == nil {
		d2.Close()
		t.Errorf("restart accepted a policy file that strands green-ci/ci-runner in %s (a reload refuses it)",
			filepath.Join(e.dir, "state", "accounts", "green"))
	}
}

const greenOwnKeyConfig = `exoscale:
  endpoint: %[1]s
  api_key: %[2]s
  api_secret: %[3]s
  rate_limit: 1000
  max_retries: 0
accounts:
  - name: green
    endpoint: %[1]s
    credential_file: green-credential.json
    own_key: {max_age: 1h, grace_period: 0s}
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

// An account left out at start (its credential file missing) with
// own_key: the failed passes of its own key, _self-green, are counted
// under account="default", since the metrics learn the account of the
// account's policies but not of its own-key policy.
func TestLeftOutAccountOwnKeyMetricsUnderWrongAccount(t *testing.T) {
	e := newAccountsEnv(t)
	admin := e.sim.Admin()
	body := fmt.Sprintf(greenOwnKeyConfig, e.sim.Endpoint, admin.Key, admin.Secret)
	if err := os.WriteFile(e.config, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	// green-credential.json does not exist: green is left out.
	d := e.open()
	d.RunPass(context.Background(), nil, rotation.Options{})
	m := scrape(t, d)
	if strings.Contains(m, `account="default",policy="_self-green"`) {
		t.Errorf("series of green's own key labelled account=\"default\":\n%s", grepLines(m, `policy="_self-green"`))
	}
	if !strings.Contains(m, `rotatord_passes_total{account="green",policy="_self-green",result="failure"} 1`) {
		t.Errorf("no failed pass of _self-green under account green:\n%s", grepLines(m, `_self-green`))
	}
}

// Held: a reload that removes an account drops every series of it.
func TestRemovedAccountLeavesNoSeries(t *testing.T) {
	e := newAccountsEnv(t)
	d := e.open()
	if _, err := d.RunPass(context.Background(), nil, rotation.Options{Force: true}); err != nil {
		t.Fatal(err)
	}
	if m := scrape(t, d); !strings.Contains(m, `account="green"`) {
		t.Fatal("no series of green before the reload")
	}
	e.dropGreen()
	if err := d.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.RunPass(context.Background(), nil, rotation.Options{}); err != nil {
		t.Fatal(err)
	}
	if m := scrape(t, d); strings.Contains(m, `account="green"`) {
		t.Errorf("series of the removed account green remain:\n%s", grepLines(m, `account="green"`))
	}
}

// gateSink holds a probe until released: a slow sink (a Vault sink's probe
// is several round trips) between a handler's start and its intent.
type gateSink struct {
	sinks.Sink
	once    *sync.Once
	entered chan struct{}
	release chan struct{}
}

func (g gateSink) Probe(ctx context.Context, name string) error {
	g.once.Do(func() { close(g.entered) })
	<-g.release
	return g.Sink.Probe(ctx, name)
}

const strandConfig = `exoscale:
  endpoint: %s
  api_key: %s
  api_secret: %s
  rate_limit: 1000
  max_retries: 0
state_dir: state
listen: 127.0.0.1:0
policies:
%s  - name: backup
    match: {name: "backup-*"}
    sinks: [{type: file, path: "out/backup-{{.Name}}.json"}]
`

const strandCI = `  - name: ci
    match: {name: "ci-runner"}
    grace_period: 1h
    adopt: rotate
    sinks: [{type: file, path: "out/ci-{{.Name}}.json"}]
`

// A reload that removes a policy while a handler of it is between its
// start and its intent: install's check finds nothing in flight, then
// SetPolicies (after the handler, which made a rotation) refuses. The
// daemon installs the new setup anyway with that account marked failed:
// the reload reports success (rotatord_config_last_reload_successful 1),
// and every pass and deletion of the account fails or is skipped until
// the next reload, although its engine kept working policies.
func TestReloadRacingARotationStartDisablesTheAccount(t *testing.T) {
	sim := exosimtest.NewServer(t, exosim.DefaultSeed())
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "out"), 0o700)
	admin := sim.Admin()
	cfgPath := filepath.Join(dir, "rotatord.yml")
	write := func(policies string) {
		if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf(strandConfig, sim.Endpoint, admin.Key, admin.Secret, policies)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(strandCI)
	d, err := New(Options{ConfigPath: cfgPath, Logger: zap.NewNop(), Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	gate := gateSink{once: &sync.Once{}, entered: make(chan struct{}), release: make(chan struct{})}
	pols := slices.Clone(d.setup().account(config.DefaultAccount).policies)
	for i := range pols {
		if pols[i].Name == "ci" {
			gate.Sink = pols[i].Sinks[0]
			pols[i].Sinks = []sinks.Sink{gate}
		}
	}
	if err := d.account(config.DefaultAccount).engine.SetPolicies(pols); err != nil {
		t.Fatal(err)
	}
	passDone := make(chan error, 1)
	go func() {
		_, err := d.RunPass(context.Background(), []string{"ci"}, rotation.Options{Force: true})
		passDone <- err
	}()
	<-gate.entered
	write("")
	reloadDone := make(chan error, 1)
	go func() { reloadDone <- d.Reload() }()
	time.Sleep(500 * time.Millisecond) // the reload has checked and waits for the handler
	close(gate.release)
	if err := <-passDone; err != nil {
		t.Fatalf("ci pass: %v", err)
	}
	rerr := <-reloadDone
	_, perr := d.RunPass(context.Background(), nil, rotation.Options{})
	t.Logf("reload: %v; next pass: %v", rerr, perr)
	if rerr == nil && perr != nil {
		t.Errorf("the reload succeeded, yet every later pass fails: %v", perr)
	}
}

// An account that works, whose credential cannot be read at a reload (a
// Vault blip, a file being replaced by hand): with one account the reload
// is refused and the account goes on with the client it has; with several
// the account is left out, its passes fail and its due deletions stop,
// until someone reloads again, although nothing was wrong with the
// credential in use.
func TestReloadWithAnUnreadableCredentialStopsAWorkingAccount(t *testing.T) {
	e := newAccountsEnv(t)
	d := e.open()
	if _, err := d.RunPass(context.Background(), nil, rotation.Options{}); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(e.dir, "green-secret")); err != nil {
		t.Fatal(err)
	}
	rerr := d.Reload()
	_, perr := d.RunPass(context.Background(), []string{"green-ci"}, rotation.Options{})
	t.Logf("reload: %v; green's pass: %v", rerr, perr)
	if perr != nil {
		t.Errorf("green, which signs with a valid credential, stops after a reload that could not re-read it: %v", perr)
	}
}

const bothOwnKeysConfig = `exoscale:
  endpoint: %[1]s
  credential_file: credential.json
  own_key: {max_age: 1h, grace_period: 1s}
  rate_limit: 1000
  max_retries: 0
accounts:
  - name: green
    endpoint: %[1]s
    credential_file: green-credential.json
    own_key: {max_age: 1h, grace_period: 1s}
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

// Held: two organizations rotating their own keys and their ci keys, a
// reload, the grace periods, a failed own rotation: no secret issued in
// either organization reaches a log line, a metric, an outcome's error, a
// state file, or a file others may read; only the credential files and
// the sinks (0600) hold them.
func TestNoSecretLeaksWithTwoOwnKeys(t *testing.T) {
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
	var errs []string
	run := func(names []string, opts rotation.Options) {
		out, err := d.RunPass(context.Background(), names, opts)
		if err != nil {
			errs = append(errs, err.Error())
		}
		for _, o := range out {
			if o.Err != nil {
				errs = append(errs, o.Err.Error())
			}
		}
	}
	run(nil, rotation.Options{Force: true})
	if err := d.Reload(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	for _, o := range d.DeleteDue(context.Background(), rotation.Options{IgnoreBackoff: true}) {
		if o.Err != nil {
			errs = append(errs, o.Err.Error())
		}
	}
	// A failed own rotation: its create answers 500.
	e.sim.SetFault(exosim.OpCreateAPIKey, exosim.Fault{ErrorNext: 1, ErrorStatus: 500})
	run([]string{"_self-green"}, rotation.Options{Force: true, IgnoreBackoff: true})
	run(nil, rotation.Options{IgnoreBackoff: true})

	var secrets []string
	for _, k := range e.sim.Keys() {
		secrets = append(secrets, k.Secret)
	}
	if len(secrets) < 8 {
		t.Fatalf("only %d keys ever: the rotations did not happen", len(secrets))
	}
	var blobs []string
	for _, l := range e.logs.All() {
		b, _ := json.Marshal(l.ContextMap())
		blobs = append(blobs, "log: "+l.Message+" "+string(b))
	}
	blobs = append(blobs, "metrics: "+scrape(t, d))
	for _, s := range errs {
		blobs = append(blobs, "error: "+s)
	}
	filepath.Walk(e.dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return nil
		}
		b, _ := os.ReadFile(p)
		rel, _ := filepath.Rel(e.dir, p)
		holder := strings.HasSuffix(rel, "credential.json") || strings.HasPrefix(rel, "out/") || rel == "green-secret" // the env's seed
		for _, s := range secrets {
			if !strings.Contains(string(b), s) {
				continue
			}
			if !holder {
				t.Errorf("a secret in %s", rel)
			} else if info.Mode().Perm()&0o077 != 0 {
				t.Errorf("%s holds a secret with mode %v", rel, info.Mode().Perm())
			}
		}
		return nil
	})
	for _, b := range blobs {
		for _, s := range secrets {
			if strings.Contains(b, s) {
				t.Errorf("a secret in %.200s", b)
			}
		}
	}
}

// The credential file holds the organization's most powerful secret and
// is rotatord's own (written 0600). Made world-readable (a careless cp,
// an operator's chmod), it is read at start, at every reload and at every
// own-key rotation's checks without a word: neither validate nor run
// flags it, and it stays world-readable until the next own rotation
// (max_age, 30 days by default) rewrites it.
func TestWorldReadableCredentialFileUnnoticed(t *testing.T) {
	e := newSelfEnv(t, "0s")
	if err := os.Chmod(filepath.Join(e.dir, "credential.json"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, warns, verr := config.Validate(e.config, config.ValidateOptions{Host: true})
	d := e.open()
	defer d.Close()
	d.RunPass(context.Background(), nil, rotation.Options{})
	flagged := verr != nil
	for _, w := range warns {
		flagged = flagged || strings.Contains(w.Path, "credential_file")
	}
	for _, l := range e.logs.All() {
		flagged = flagged || l.Level >= zap.WarnLevel && strings.Contains(l.Message+fmt.Sprint(l.ContextMap()), "credential")
	}
	if !flagged {
		t.Error("a world-readable (0644) credential file passes validate and run without a warning")
	}
}

// Held: a reload that moves a policy to another account while one of its
// rotations is in its grace period is refused, naming it; the state
// directories of the accounts are private.
func TestMovePolicyBetweenAccountsAndStateLayout(t *testing.T) {
	e := newAccountsEnv(t)
	d := e.open()
	if err := d.account(config.DefaultAccount).store.Put(stateRecordInFlight("ci", "ci-runner")); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(e.config)
	moved := strings.Replace(string(b), "  - name: ci\n    match", "  - name: ci\n    account: green\n    match", 1)
	moved = strings.Replace(moved, `path: "out/{{.Name}}.json"`, `path: "out/moved-{{.Name}}.json"`, 1)
	if err := os.WriteFile(e.config, []byte(moved), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.Reload(); err == nil || !strings.Contains(err.Error(), "ci/ci-runner") {
		t.Errorf("reload moving ci to green with a rotation in flight: %v, want a refusal naming ci/ci-runner", err)
	}
	for _, p := range []string{"state", "state/accounts", "state/accounts/green", "state/accounts/green/records"} {
		fi, err := os.Stat(filepath.Join(e.dir, p))
		if err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: %v %v, want a 0700 directory", p, fi.Mode().Perm(), err)
		}
	}
}
